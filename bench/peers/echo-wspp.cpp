/*
 * echo-wspp: the WebSocket++ echo server of the benchmark, written the way
 * a WebSocket++ user writes one: server<config::asio> on standalone Asio,
 * a message handler that sends every message back with its opcode.
 *
 *   echo-wspp --port N [--broadcast]
 *
 * Listens on 127.0.0.1:N, single-threaded (one io_service run by main).
 * With --broadcast every message received on any connection is sent to
 * every open connection, the sender included. SIGTERM or SIGINT ends the
 * loop and the exit status is 0.
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <set>
#include <system_error>

#include <websocketpp/config/asio_no_tls.hpp>
#include <websocketpp/server.hpp>

typedef websocketpp::server<websocketpp::config::asio> server;

namespace {

// The load generator sends messages of up to 16 MiB; the default limit is
// 32 MB.
const size_t max_payload = 64u * 1024 * 1024;

int
usage()
{
	std::fprintf(stderr, "usage: echo-wspp --port N [--broadcast]\n");
	return 2;
}

} // namespace

int
main(int argc, char **argv)
{
	long port = -1;
	bool broadcast = false;
	char *end;

	for (int i = 1; i < argc; i++) {
		if (!std::strcmp(argv[i], "--port") && i + 1 < argc) {
			port = std::strtol(argv[++i], &end, 10);
			if (*end || port < 0 || port > 65535)
				return usage();
		} else if (!std::strcmp(argv[i], "--broadcast")) {
			broadcast = true;
		} else {
			return usage();
		}
	}
	if (port < 0)
		return usage();

	server s;
	std::set<websocketpp::connection_hdl,
	    std::owner_less<websocketpp::connection_hdl> > room;

	s.clear_access_channels(websocketpp::log::alevel::all);
	s.clear_error_channels(websocketpp::log::elevel::all);
	s.set_max_message_size(max_payload);
	s.set_reuse_addr(true);
	// config::asio negotiates no extension: permessage-deflate is off.
	// Once accepted (the socket init handler runs before), small
	// messages go out at once, not after Nagle's timer.
	s.set_tcp_post_init_handler([&s](websocketpp::connection_hdl hdl) {
		std::error_code ec;
		s.get_con_from_hdl(hdl)->get_socket().set_option(
		    asio::ip::tcp::no_delay(true), ec);
	});
	if (broadcast) {
		// A connection that fails before it opens never joins: the
		// fail handler, not the close handler, ends it.
		s.set_open_handler([&room](websocketpp::connection_hdl hdl) {
			room.insert(hdl);
		});
		s.set_close_handler([&room](websocketpp::connection_hdl hdl) {
			room.erase(hdl);
		});
		s.set_message_handler([&s, &room](websocketpp::connection_hdl,
		    server::message_ptr msg) {
			std::error_code ec;	// a closing member misses it
			for (const auto &hdl : room)
				s.send(hdl, msg, ec);
		});
	} else {
		s.set_message_handler([&s](websocketpp::connection_hdl hdl,
		    server::message_ptr msg) {
			std::error_code ec;	// closing: nothing to answer
			s.send(hdl, msg, ec);
		});
	}

	std::error_code ec;
	s.init_asio(ec);
	if (!ec)
		s.listen(asio::ip::tcp::endpoint(
		    asio::ip::make_address_v4("127.0.0.1"),
		    static_cast<unsigned short>(port)), ec);
	if (!ec)
		s.start_accept(ec);
	if (ec) {
		std::fprintf(stderr, "echo-wspp: cannot listen on "
		    "127.0.0.1:%ld: %s\n", port, ec.message().c_str());
		return 1;
	}

	asio::signal_set signals(s.get_io_service(), SIGINT, SIGTERM);
	signals.async_wait([&s](const std::error_code &, int) {
		s.stop();
	});
	s.run();
	return 0;
}
