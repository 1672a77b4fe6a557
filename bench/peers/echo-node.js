// echo-node: the Node.js echo server of the benchmark, on the ws package
// (with bufferutil for masking), written the way a ws user writes one.
//
//   node echo-node.js --port N [--broadcast]
//
// Listens on 127.0.0.1:N, single-threaded. With --broadcast every message
// received on any connection is sent to every open connection, the sender
// included. SIGTERM or SIGINT ends the process (Node's default).
//
// ws and bufferutil are installed in node/node_modules (bench/deps).
//
// Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
'use strict';

const path = require('path');
const modules = path.join(__dirname, 'node', 'node_modules');
const { WebSocketServer, WebSocket } = require(path.join(modules, 'ws'));

function usage() {
  process.stderr.write('usage: node echo-node.js --port N [--broadcast]\n');
  process.exit(2);
}

let port = -1;
let broadcast = false;
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === '--port' && i + 1 < argv.length && /^\d+$/.test(argv[i + 1]))
    port = Number(argv[++i]);
  else if (argv[i] === '--broadcast')
    broadcast = true;
  else
    usage();
}
if (port < 0 || port > 65535)
  usage();

// Without bufferutil's native addon, ws (and bufferutil itself) fall back
// to masking in JavaScript without a word: refuse to measure that slower
// path unnoticed. WS_NO_BUFFER_UTIL=1 is ws's own switch to run without it.
if (!process.env.WS_NO_BUFFER_UTIL) {
  try {
    require(path.join(modules, 'node-gyp-build'))(
      path.join(modules, 'bufferutil'));
  } catch (err) {
    process.stderr.write('echo-node: bufferutil\'s native addon does not ' +
      `load (${err.message.split("\n")[0]}); set WS_NO_BUFFER_UTIL=1 to run without it\n`);
    process.exit(1);
  }
}

const wss = new WebSocketServer({
  host: '127.0.0.1',
  port,
  maxPayload: 64 * 1024 * 1024,  // the load generator sends up to 16 MiB
  perMessageDeflate: false,
  clientTracking: broadcast,
  backlog: 4096,  // the others' too: up to 256 connections come at once
});

wss.on('error', (err) => {
  process.stderr.write(`echo-node: ${err.message}\n`);
  process.exit(1);
});

wss.on('connection', (ws) => {
  ws.on('error', () => {});  // the close that follows is enough
  if (broadcast) {
    ws.on('message', (data, isBinary) => {
      for (const client of wss.clients)
        if (client.readyState === WebSocket.OPEN)
          client.send(data, { binary: isBinary });
    });
  } else {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  }
});
