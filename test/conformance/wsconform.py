#!/usr/bin/python3
"""wsconform: an Autobahn-grade WebSocket (RFC 6455) conformance tool.

  wsconform.py client URL [options]     fuzzing client: tests an echo server
  wsconform.py server [options]         fuzzing server: tests an echo client
  wsconform.py list [--role server|client]

The fuzzing server starts the client under test once per case with
--exec 'CMD ... {url}' ({url} is ws://127.0.0.1:PORT/case/ID), or once with
--driver 'CMD ... {base}' for a client that asks for the cases itself like
Autobahn's (BASE/getCaseCount, then BASE/runCase?case=N&agent=A); with
neither it waits for such a client.

The cases are those of the Autobahn TestSuite, sections 1-7, 9, 10, 12
and 13 (written from their definitions, see cases.py; 12 and 13 use
permessage-deflate, RFC 7692, with zlib and the generated test data of
payloads.py), plus section 0: wrong masking for the role (both roles) and
invalid opening handshake responses (client role only). Verdicts follow Autobahn's rules; README.md explains
them. Every case gets a JSON report under --report-dir; the run ends with
a summary and "N passed, M failed", where a case passes when its verdict
is the one expected for it (OK by default, see --expect).

Standard library only: runs with Debian's /usr/bin/python3 as is.

Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
"""

import argparse
import base64
import collections
import hashlib
import heapq
import json
import os
import re
import selectors
import shlex
import socket
import ssl
import struct
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import zlib

import cases as C

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OK = "OK"
NON_STRICT = "NON-STRICT"
FAILED = "FAILED"
INFORMATIONAL = "INFORMATIONAL"
UNIMPLEMENTED = "UNIMPLEMENTED"
WRONG_CODE = "WRONG CODE"
UNCLEAN = "UNCLEAN"
FAILED_BY_CLIENT = "FAILED BY CLIENT"
VERDICTS = (OK, NON_STRICT, FAILED, INFORMATIONAL, UNIMPLEMENTED)

# Autobahn's protocol options for the fuzzer (seconds).
OPEN_HANDSHAKE_TIMEOUT = 5.0
CLOSE_HANDSHAKE_TIMEOUT = 1.0
SERVER_DROP_TIMEOUT = 1.0
# Our own bounds.
LINGER = 1.0            # reading until EOF after our FIN
REFUSAL_WAIT = 2.0      # section 0.2: how long a client has to hang up
WIRELOG_MAX = 400       # entries of a case's wire log
READ_SIZE = 1 << 20

OPEN, CLOSING, CLOSED = "OPEN", "CLOSING", "CLOSED"

# --time-scale: every wait of a case (Autobahn's timers included) is
# multiplied by it; 1 but for testees under valgrind.
TIME_SCALE = 1.0

SANITIZER_RE = re.compile(
    r"ERROR: (AddressSanitizer|LeakSanitizer|MemorySanitizer|ThreadSanitizer)"
    r"|runtime error: |SUMMARY: UndefinedBehaviorSanitizer")


# ------------------------------------------------------------------ masking

_rep = [0, 0]   # [m, sum of 2**(32*j) for j < m]


def _rep_int(m):
    """The integer whose big-endian 4*m octets are 00 00 00 01 repeated."""
    if m > _rep[0]:
        mm = max(m, 4096)
        _rep[0], _rep[1] = mm, int.from_bytes(b"\0\0\0\1" * mm, "big")
    return _rep[1] >> (32 * (_rep[0] - m))


def xor_mask(data, key):
    """RFC 6455 5.3: data XOR the 4-octet key repeated. One big-integer XOR,
    so that 16 MiB take a fraction of a second."""
    n = len(data)
    if n == 0:
        return b""
    if n <= 32:
        return bytes(b ^ key[i & 3] for i, b in enumerate(data))
    pad = (-n) % 4
    d = int.from_bytes(data, "big") << (8 * pad)
    k = int.from_bytes(key, "big") * _rep_int((n + pad) // 4)
    return ((d ^ k) >> (8 * pad)).to_bytes(n, "big")


def repeat_to(pattern, n):
    """Autobahn's payload_len: the pattern repeated, cut to n octets."""
    if not pattern:
        return b"\0" * n
    return (pattern * (n // len(pattern) + 1))[:n]


def frame_header(opcode, length, fin=True, rsv=0, key=None):
    b0 = (0x80 if fin else 0) | ((rsv & 7) << 4) | (opcode & 0x0F)
    m = 0x80 if key is not None else 0
    if length < 126:
        h = bytes((b0, m | length))
    elif length < 65536:
        h = struct.pack("!BBH", b0, m | 126, length)
    else:
        h = struct.pack("!BBQ", b0, m | 127, length)
    return h + key if key is not None else h


def is_utf8(b):
    try:
        bytes(b).decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def close_code_valid(code):
    """RFC 6455 7.4 and the IANA registry: the codes an endpoint may send."""
    return (1000 <= code <= 1003 or 1007 <= code <= 1014 or
            3000 <= code <= 4999)


def show(b, limit=256):
    """A payload for the reports: hex and text when short, a digest when not."""
    b = bytes(b)
    d = {"len": len(b)}
    if len(b) <= limit:
        d["hex"] = b.hex()
        try:
            d["text"] = b.decode("utf-8")
        except UnicodeDecodeError:
            pass
    else:
        d["head_hex"] = b[:64].hex()
        d["sha256"] = hashlib.sha256(b).hexdigest()
    return d


def show_events(events):
    out = []
    for e in events:
        if e[0] == "message":
            out.append(["message", show(e[1]), "binary" if e[2] else "text"])
        elif e[0] == "pong":
            out.append(["pong", show(e[1])])
        else:
            out.append(list(e))
    return out


def brief(events):
    """Events in a few words, for the verdict reasons."""
    out = []
    for e in events:
        if e[0] == "message":
            out.append("%s message of %d octets" % ("binary" if e[2] else "text", len(e[1])))
        elif e[0] == "pong":
            out.append("pong of %d octets" % len(e[1]))
        else:
            out.append(" ".join(str(x) for x in e))
    return "[" + ", ".join(out) + "]"


# ------------------------------------------------------------------ HTTP

class HandshakeError(Exception):
    pass


def read_http_head(sock, deadline, limit=16384):
    """Reads an HTTP head (request or response) from a blocking socket.
    Returns (start line, [(lower-case name, value)], bytes after the head)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        if len(buf) > limit:
            raise HandshakeError("HTTP head larger than %d octets" % limit)
        left = deadline - time.monotonic()
        if left <= 0:
            raise HandshakeError("opening handshake timed out")
        sock.settimeout(left)
        try:
            chunk = sock.recv(4096)
        except socket.timeout:
            raise HandshakeError("opening handshake timed out")
        except OSError as e:
            raise HandshakeError("connection failed during the opening handshake: %s" % e)
        if not chunk:
            raise HandshakeError("connection closed during the opening handshake"
                                 + (" (after %d octets)" % len(buf) if buf else ""))
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("iso-8859-1").split("\r\n")
    headers = []
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise HandshakeError("malformed header line %r" % line)
        headers.append((name.lower(), value.strip()))
    return lines[0], headers, rest


def hget(headers, name):
    vals = [v for n, v in headers if n == name]
    return ", ".join(vals) if vals else None


def tokens(value):
    return [t.strip().lower() for t in (value or "").split(",") if t.strip()]


def accept_for(key):
    return base64.b64encode(hashlib.sha1(key.encode("ascii") + GUID).digest()).decode()


# ------------------------------------------------------------------ permessage-deflate

PMD = "permessage-deflate"
PMD_TAIL = b"\x00\x00\xff\xff"
PMD_FLAGS = ("server_no_context_takeover", "client_no_context_takeover")
PMD_BITS = ("server_max_window_bits", "client_max_window_bits")
MAX_INFLATE = 64 << 20      # octets one message of the testee may inflate to
_TOKEN_RE = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def parse_extensions(value):
    """RFC 6455 9.1: Sec-WebSocket-Extensions as [(name, [(param, value or
    None)])], names lower-cased. ValueError when malformed."""
    out = []
    pos, n = 0, len(value)

    def skip_ws(p):
        while p < n and value[p] in " \t":
            p += 1
        return p

    def token(p):
        m = _TOKEN_RE.match(value, p)
        if not m:
            raise ValueError("a token expected at %r" % value[p:p + 20])
        return m.group(0), m.end()

    while True:
        pos = skip_ws(pos)
        name, pos = token(pos)
        params = []
        pos = skip_ws(pos)
        while pos < n and value[pos] == ";":
            pname, pos = token(skip_ws(pos + 1))
            pos = skip_ws(pos)
            pval = None
            if pos < n and value[pos] == "=":
                pos = skip_ws(pos + 1)
                if pos < n and value[pos] == '"':
                    end = value.find('"', pos + 1)
                    if end < 0 or "\\" in value[pos:end]:
                        raise ValueError("a bad quoted string")
                    pval, pos = value[pos + 1:end], end + 1
                    if not _TOKEN_RE.fullmatch(pval):
                        raise ValueError("a quoted value that is not a token")
                else:
                    pval, pos = token(pos)
                pos = skip_ws(pos)
            params.append((pname.lower(), pval))
        out.append((name.lower(), params))
        if pos >= n:
            return out
        if value[pos] != ",":
            raise ValueError("',' or ';' expected at %r" % value[pos:pos + 20])
        pos += 1


def pmd_params(params, response):
    """The parameters of one permessage-deflate offer (response=False) or
    response (RFC 7692 7.1) as a dict: flags True, window bits an int (True
    for an offer's bare client_max_window_bits). ValueError when invalid."""
    d = {}
    for k, v in params:
        if k in d:
            raise ValueError("the parameter %s twice" % k)
        if k in PMD_FLAGS:
            if v is not None:
                raise ValueError("%s with a value" % k)
            d[k] = True
        elif k in PMD_BITS:
            if v is None:
                if response or k != "client_max_window_bits":
                    raise ValueError("%s without a value" % k)
                d[k] = True
            elif v not in ("8", "9", "10", "11", "12", "13", "14", "15"):
                raise ValueError("%s=%s (8 to 15)" % (k, v))
            else:
                d[k] = int(v)
        else:
            raise ValueError("the unknown parameter %s" % k)
    return d


def pmd_format(d):
    parts = [PMD]
    for k in PMD_FLAGS + PMD_BITS:
        v = d.get(k)
        if v is True:
            parts.append(k)
        elif v:
            parts.append("%s=%d" % (k, v))
    return "; ".join(parts)


def pmd_offer(nct=False, bits=0):
    """Autobahn's client offer: it accepts that the server asks for client
    no context takeover and a client window; it may ask the server for
    either (nct, bits)."""
    d = {"client_no_context_takeover": True, "client_max_window_bits": True}
    if nct:
        d["server_no_context_takeover"] = True
    if bits:
        d["server_max_window_bits"] = bits
    return d


def pmd_check_response(resp, offer):
    """Why a response cannot answer this offer (RFC 7692 7.1.1, 7.1.2), or
    None."""
    if offer.get("server_no_context_takeover") and not resp.get("server_no_context_takeover"):
        return "no server_no_context_takeover though the offer asked for it"
    asked = offer.get("server_max_window_bits")
    got = resp.get("server_max_window_bits")
    if asked and (not got or got > asked):
        return "server_max_window_bits=%s for an offer of %d" % (got, asked)
    cb = resp.get("client_max_window_bits")
    if cb:
        oc = offer.get("client_max_window_bits")
        if not oc:
            return "client_max_window_bits though the offer had none"
        if oc is not True and cb > oc:
            return "client_max_window_bits=%d for an offer of %d" % (cb, oc)
    return None


def pmd_negotiate_client(header, offers):
    """The fuzzer client's reading of the answer to its offers: the
    negotiated parameters, None (declined), or HandshakeError."""
    if header is None:
        return None
    try:
        exts = parse_extensions(header)
    except ValueError as e:
        raise HandshakeError("malformed Sec-WebSocket-Extensions %r: %s" % (header, e))
    if not offers:
        raise HandshakeError("an extension we did not offer: %s" % header)
    if len(exts) != 1 or exts[0][0] != PMD:
        raise HandshakeError("Sec-WebSocket-Extensions %r: we offered %s only" % (header, PMD))
    try:
        resp = pmd_params(exts[0][1], True)
    except ValueError as e:
        raise HandshakeError("invalid %s response %r: %s" % (PMD, header, e))
    whys = [pmd_check_response(resp, o) for o in offers]
    if all(whys):
        raise HandshakeError("the %s response %r answers none of our offers: %s"
                             % (PMD, header, "; ".join(whys)))
    return resp


def pmd_negotiate_server(header, rules):
    """The fuzzer server's answer to the client's offers, Autobahn's way:
    rules are (client_no_context_takeover, client_max_window_bits) to ask
    for, in order; an offer takes a rule when it advertised what the rule
    asks (client_no_context_takeover, client_max_window_bits). Whatever the
    offer asks of the server is granted. Returns (response dict or None,
    problem or None)."""
    if header is None:
        return None, None
    try:
        exts = parse_extensions(header)
        offers = [pmd_params(p, False) for name, p in exts if name == PMD]
    except ValueError as e:
        return None, "invalid Sec-WebSocket-Extensions %r: %s" % (header, e)
    for offer in offers:
        for nct, bits in rules:
            if (nct and not offer.get("client_no_context_takeover")) or \
                    (bits and not offer.get("client_max_window_bits")):
                continue
            resp = {k: offer[k] for k in ("server_no_context_takeover",
                                          "server_max_window_bits") if k in offer}
            if nct:
                resp["client_no_context_takeover"] = True
            if bits:
                oc = offer["client_max_window_bits"]
                resp["client_max_window_bits"] = bits if oc is True else min(bits, oc)
            return resp, None
    return None, None


class Deflate:
    """permessage-deflate on one connection of the fuzzer (RFC 7692):
    the negotiated parameters, the fuzzer's compressor (zlib's default
    level, its own window and context takeover as agreed) and the
    decompressor of the testee's messages, which honours the testee's
    window and no_context_takeover: a testee that keeps its context after
    agreeing not to, or uses a larger window, sends back-references that a
    fresh (or smaller) inflater rejects."""

    def __init__(self, resp, is_server):
        self.params = dict(resp)
        me, peer = ("server", "client") if is_server else ("client", "server")
        self.own_nct = bool(resp.get(me + "_no_context_takeover"))
        self.own_bits = resp.get(me + "_max_window_bits") or 15
        self.peer_nct = bool(resp.get(peer + "_no_context_takeover"))
        self.peer_bits = resp.get(peer + "_max_window_bits") or 15
        self.comp = None
        self.decomp = None
        self.window = b""       # the testee's last output, for a stream it ended
        self.stats = collections.Counter()

    def compress(self, data):
        if self.comp is None or self.own_nct:
            # zlib makes no 8-bit window: stored blocks, no back-references.
            self.comp = zlib.compressobj(0 if self.own_bits == 8 else -1, zlib.DEFLATED,
                                         -max(self.own_bits, 9))
        out = self.comp.compress(data) + self.comp.flush(zlib.Z_SYNC_FLUSH)
        self.stats["tx_messages"] += 1
        self.stats["tx_octets_in"] += len(data)
        self.stats["tx_octets_out"] += len(out) - 4
        return out[:-4]     # RFC 7692 7.2.1: without the 00 00 ff ff

    def decompress(self, data):
        """Inflates one message (RFC 7692 7.2.2); zlib.error or ValueError
        when it does not inflate or inflates past MAX_INFLATE. After a block
        with BFINAL set (RFC 7692 7.2.3) a new stream follows; with context
        takeover it starts from the window so far."""
        n = len(data)
        data = bytes(data) + PMD_TAIL
        if self.peer_nct:
            self.decomp = None
        out = []
        total = 0
        while True:
            if self.decomp is None:
                hist = b"" if self.peer_nct else (self.window + b"".join(out))[-32768:]
                self.decomp = (zlib.decompressobj(-self.peer_bits, zdict=hist) if hist
                               else zlib.decompressobj(-self.peer_bits))
            piece = self.decomp.decompress(data, MAX_INFLATE + 1 - total)
            out.append(piece)
            total += len(piece)
            if total > MAX_INFLATE or self.decomp.unconsumed_tail:
                raise ValueError("it inflates to more than %d octets" % MAX_INFLATE)
            if not self.decomp.eof:
                break
            # A final block: what follows is a new stream, but for the
            # 00 00 ff ff we appended (the next message starts one then).
            data = self.decomp.unused_data
            self.decomp = None
            if not data or data == PMD_TAIL:
                break
        msg = b"".join(out)
        if not self.peer_nct:
            self.window = (self.window + msg)[-32768:]
        self.stats["rx_messages"] += 1
        self.stats["rx_octets_in"] += n
        self.stats["rx_octets_out"] += len(msg)
        return msg

    def report(self):
        d = {"negotiated": pmd_format(self.params), "params": self.params}
        d.update(self.stats)
        return d


# ------------------------------------------------------------------ the wire

class Wire:
    """One WebSocket connection of the fuzzer after the opening handshake:
    raw frame output with Autobahn's primitives (chops, sync writes, timers),
    a strict parser of what the testee sends, and the closing handshake
    bookkeeping that the verdicts read (closedByMe, wasClean, codes)."""

    def __init__(self, sock, is_server, leftover=b"", wirelog=True):
        self.sock = sock
        self.tls = isinstance(sock, ssl.SSLSocket)
        self.is_server = is_server
        self.t0 = time.monotonic()
        self.out = collections.deque()      # [buffer, offset, sync, open, callback]
        self.inbuf = bytearray(leftover)
        self.rbuf = bytearray(READ_SIZE)
        self.state = OPEN
        self.case = None
        self.closed_by_me = False
        self.failed_by_me = False
        self.dropped_by_me = False
        self.close_written = False
        self.close_received = False
        self.clean_override = None          # a reason wasClean is false
        self.local_close_code = None
        self.local_close_reason = None
        self.remote_close_code = None
        self.remote_close_reason = None
        self.timers = []
        self.tseq = 0
        self.violations = []
        self.notes = []
        self.wirelog_on = wirelog
        self.wirelog = []
        self.wirelog_dropped = 0
        self.tx_frames = collections.Counter()
        self.rx_frames = collections.Counter()
        self.tx_octets = 0
        self.rx_octets = 0
        self.msg_opcode = None
        self.msg_parts = []
        self.rx_dead = False        # input ignored after a violation
        self.write_error = None
        self.dropping = None        # deadline of the flush before our FIN
        self.lingering = None       # deadline of the read after our FIN
        self.auto_fragment_size = 0
        self.end_reason = None
        self.mask_keys = set()
        self.masked_frames = 0
        self.deflate = None         # Deflate, when permessage-deflate was agreed
        self.msg_compressed = False

    # --- bookkeeping
    def now(self):
        return time.monotonic() - self.t0

    def log(self, *entry):
        if not self.wirelog_on:
            return
        if len(self.wirelog) >= WIRELOG_MAX:
            self.wirelog_dropped += 1
            return
        self.wirelog.append([round(self.now() * 1000, 1)] + list(entry))

    def logging(self):
        """Whether a frame would be logged (spares the previews and
        digests of the frames past the wire log's cap)."""
        if self.wirelog_on and len(self.wirelog) >= WIRELOG_MAX:
            self.wirelog_dropped += 1
            return False
        return self.wirelog_on

    def was_clean(self):
        if self.clean_override:
            return False
        return self.close_written and self.close_received

    # --- timers (Autobahn: continueLater, killAfter, closeAfter)
    def at(self, delay, fn):
        self.tseq += 1
        heapq.heappush(self.timers, (time.monotonic() + delay * TIME_SCALE, self.tseq, fn))

    def continue_later(self, delay, fn, tag=None):
        self.log("timer", "continue_later", delay, tag)

        def fire():
            if self.state != CLOSED:
                self.log("timer-fired", "continue_later", tag)
                fn()
        self.at(delay, fire)

    def kill_after(self, delay):
        self.log("timer", "kill_after", delay)

        def fire():
            if self.state == OPEN:
                self.log("timer-fired", "kill_after")
                self.fail(1001, b"Going Away", "kill timer (%g s)" % delay)
        self.at(delay, fire)

    def close_after(self, delay):
        self.log("timer", "close_after", delay)

        def fire():
            if self.state == OPEN:
                self.log("timer-fired", "close_after")
                self.send_close()
        self.at(delay, fire)

    # --- output
    def _queue(self, data, sync=False, cb=None):
        if self.state == CLOSED or self.dropping is not None:
            return
        n = len(data)
        self.tx_octets += n
        last = self.out[-1] if self.out else None
        if (not sync and cb is None and n < 65536 and last is not None and last[3]
                and len(last[0]) < 262144):
            last[0] += data
            return
        if not sync and cb is None and n < 65536:
            self.out.append([bytearray(data), 0, False, True, None])
        else:
            self.out.append([data, 0, sync, False, cb])

    def send_frame(self, opcode, payload=b"", fin=True, rsv=0, mask=None,
                   payload_len=None, chopsize=None, sync=False, parts=None):
        """Autobahn's sendFrame. parts: cut the frame into writes at these
        payload offsets (the chops of beginMessageFrame); returns the list of
        writes still to make instead of writing them."""
        if payload_len is not None:
            payload = repeat_to(payload, payload_len)
        if mask is None:
            mask = not self.is_server
        key = os.urandom(4) if mask else None
        body = xor_mask(payload, key) if mask else payload
        head = frame_header(opcode, len(payload), fin, rsv, key)
        self.tx_frames[opcode] += 1
        if self.logging():
            self.log("tx-frame", {"opcode": opcode, "fin": fin, "rsv": rsv,
                                  "mask": key.hex() if key else None,
                                  "payload": show(payload), "chopsize": chopsize,
                                  "sync": sync})
        if parts is not None:
            cuts = [0] + list(parts) + [len(body)]
            pieces = [body[cuts[i]:cuts[i + 1]] for i in range(len(cuts) - 1)]
            pieces[0] = head + pieces[0]
            return pieces
        if chopsize:
            whole = head + body
            for i in range(0, len(whole), chopsize):
                self._queue(whole[i:i + chopsize], sync=True)
        elif sync or len(body) < 65536:
            self._queue(head + body, sync=sync)
        else:
            self._queue(head)
            self._queue(body)
        return None

    def send_raw(self, data, sync=True):
        self.log("tx-octets", len(data))
        self._queue(data, sync=sync)

    def send_message(self, payload, binary=False, fragment_size=None, sync=False):
        """Autobahn's sendMessage: one message in frames of fragment_size
        (or the auto-fragmentation size) octets. With permessage-deflate the
        message is compressed first and its compressed octets are cut into
        the frames, RSV1 on the first one only (RFC 7692 6.1)."""
        opcode = 2 if binary else 1
        rsv = 0
        if self.deflate is not None:
            payload = self.deflate.compress(payload)
            rsv = 4
        fs = fragment_size or self.auto_fragment_size
        if not fs or len(payload) <= fs:
            self.send_frame(opcode, payload, sync=sync, rsv=rsv)
            return
        n = len(payload)
        for off in range(0, n, fs):
            self.send_frame(opcode if off == 0 else 0, payload[off:off + fs],
                            fin=off + fs >= n, sync=sync, rsv=rsv if off == 0 else 0)

    def close_payload(self, code, reason):
        if code is None:
            return b""
        return struct.pack("!H", code) + (reason or b"")

    def send_close(self, code=None, reason=b""):
        """Autobahn's sendClose/sendCloseFrame: starts the closing handshake
        (nothing if it is already under way). code/reason are sent as given,
        valid or not."""
        if self.state != OPEN:
            return
        self._send_close_frame(self.close_payload(code, reason), code, reason)
        self.closed_by_me = True
        self.state = CLOSING
        self.at(CLOSE_HANDSHAKE_TIMEOUT, self._close_timeout)

    def send_close_payload(self, payload):
        """A Close frame with a raw payload (1 octet, say) starting the
        closing handshake."""
        if self.state != OPEN:
            return
        self._send_close_frame(payload, None, payload)
        self.closed_by_me = True
        self.state = CLOSING
        self.at(CLOSE_HANDSHAKE_TIMEOUT, self._close_timeout)

    def _send_close_frame(self, payload, code, reason):
        self.local_close_code = code
        self.local_close_reason = reason
        key = None if self.is_server else os.urandom(4)
        body = xor_mask(payload, key) if key else payload
        self.tx_frames[8] += 1
        self.log("tx-frame", {"opcode": 8, "fin": True, "rsv": 0,
                              "mask": key.hex() if key else None,
                              "payload": show(payload)})

        def written():
            self.close_written = True
        self._queue(frame_header(8, len(payload), True, 0, key) + body, cb=written)

    def _close_timeout(self):
        if self.state == CLOSING and not self.close_received:
            self.clean_override = "close handshake timeout: no Close reply within %g s" % CLOSE_HANDSHAKE_TIMEOUT
            self.drop("close handshake timeout")

    def _server_drop_timeout(self):
        if self.state != CLOSED and self.dropping is None:
            self.clean_override = "the server did not drop the TCP connection within %g s" % SERVER_DROP_TIMEOUT
            self.drop("server drop timeout")

    def fail(self, code, reason, why):
        """Autobahn's failConnection (failByDrop=False): a Close frame, then
        the closing handshake timer."""
        self.failed_by_me = True
        self.notes.append("fuzzer failed the connection (%d): %s" % (code, why))
        if self.state == OPEN:
            self.send_close(code, reason)

    def violation(self, code, why):
        self.violations.append(why)
        self.log("violation", why)
        self.rx_dead = True
        self.msg_opcode = None
        self.msg_parts = []
        self.fail(code, why[:100].encode("utf-8", "replace"), why)

    def drop(self, why):
        """Close the TCP connection ourselves: flush what is queued (1 s at
        most), FIN, read until EOF (1 s at most), close."""
        if self.dropping is not None or self.state == CLOSED:
            return
        self.dropped_by_me = True
        self.log("drop", why)
        if self.state == OPEN:
            self.state = CLOSING
        self.dropping = time.monotonic() + 1.0 * TIME_SCALE

    # --- input
    def _on_frame(self, fin, rsv, opcode, masked, payload):
        self.rx_frames[opcode] += 1
        if self.logging():
            self.log("rx-frame", {"opcode": opcode, "fin": fin, "rsv": rsv,
                                  "masked": masked, "payload": show(payload)})
        if self.dropping is not None:
            return
        if self.rx_dead and opcode != 8:
            # After a violation, only the Close that answers ours matters
            # (Autobahn skips the bad frame and waits for that reply).
            return
        if self.close_received:
            self.violations.append("a frame (opcode %d) after the peer's Close" % opcode)
            self.rx_dead = True
            return
        if masked != self.is_server:
            return self.violation(1002, "%s frame from the %s (RFC 6455 5.1)" % (
                "masked" if masked else "unmasked", "client" if self.is_server else "server"))
        if rsv:
            if self.deflate is None:
                return self.violation(1002, "RSV bits %d set with no extension negotiated" % rsv)
            if rsv != 4:
                return self.violation(1002, "RSV bits %d set: permessage-deflate uses RSV1 "
                                      "only" % rsv)
            if opcode >= 8:
                return self.violation(1002, "RSV1 on a control frame (opcode %d; RFC 7692 6.1)"
                                      % opcode)
            if opcode == 0:
                return self.violation(1002, "RSV1 on a continuation frame (RFC 7692 6.1)")
        if opcode in (3, 4, 5, 6, 7, 11, 12, 13, 14, 15):
            return self.violation(1002, "reserved opcode %d" % opcode)
        if opcode >= 8:
            if not fin:
                return self.violation(1002, "fragmented control frame (opcode %d)" % opcode)
            if len(payload) > 125:
                return self.violation(1002, "control frame with %d octets of payload" % len(payload))
            if opcode == 8:
                return self._on_close(payload)
            if opcode == 9:
                if self.state == OPEN:
                    self._pong(payload)
                return None
            if self.case:
                self.case.on_pong(payload)
            return None
        if opcode == 0:
            if self.msg_opcode is None:
                return self.violation(1002, "continuation frame with no message to continue")
        else:
            if self.msg_opcode is not None:
                return self.violation(1002, "new data frame (opcode %d) inside a fragmented message" % opcode)
            self.msg_opcode = opcode
            self.msg_parts = []
            self.msg_compressed = bool(rsv)
        self.msg_parts.append(payload)
        if not fin:
            return None
        msg = self.msg_parts[0] if len(self.msg_parts) == 1 else b"".join(self.msg_parts)
        binary = self.msg_opcode == 2
        self.msg_opcode = None
        self.msg_parts = []
        if self.msg_compressed:
            try:
                msg = self.deflate.decompress(msg)
            except (zlib.error, ValueError) as e:
                return self.violation(1007, "a compressed message of %d octets that does not "
                                      "inflate (%s window, %scontext takeover): %s" % (
                                          len(msg), "%d-bit" % self.deflate.peer_bits,
                                          "no " if self.deflate.peer_nct else "", e))
        if not binary and not is_utf8(msg):
            return self.violation(1007, "text message that is not UTF-8 (%d octets)" % len(msg))
        if self.case:
            self.case.on_message(msg, binary)
        return None

    def _pong(self, payload):
        """Pings from the testee are answered, not recorded (Autobahn)."""
        key = None if self.is_server else os.urandom(4)
        body = xor_mask(payload, key) if key else payload
        self._queue(frame_header(10, len(payload), True, 0, key) + body)

    def _on_close(self, payload):
        code = None
        reason = b""
        bad = None
        if len(payload) == 1:
            bad = (1002, "Close frame with a 1-octet payload")
        elif len(payload) >= 2:
            code = struct.unpack("!H", payload[:2])[0]
            reason = payload[2:]
            if not close_code_valid(code):
                bad = (1002, "Close frame with the invalid code %d" % code)
            elif not is_utf8(reason):
                bad = (1007, "Close frame whose reason is not UTF-8")
        self.close_received = True
        self.remote_close_code = code
        self.remote_close_reason = reason
        if bad:
            self.violations.append(bad[1])
        if self.state == OPEN:
            # The testee starts the closing handshake: Autobahn answers 1000
            # (echoCloseCodeReason=False), or fails the connection on a bad
            # Close.
            if bad:
                self.failed_by_me = True
                self._send_close_frame(struct.pack("!H", bad[0]), bad[0], b"")
                self.closed_by_me = True
            else:
                self._send_close_frame(struct.pack("!H", 1000), 1000, b"")
            self.state = CLOSING
        # The closing handshake is over: a server drops TCP, a client waits
        # for the server to.
        if self.is_server:
            self.drop("closing handshake done")
        else:
            self.at(SERVER_DROP_TIMEOUT, self._server_drop_timeout)

    def _parse(self):
        buf = self.inbuf
        pos = 0
        while self.state != CLOSED:
            avail = len(buf) - pos
            if avail < 2:
                break
            b0 = buf[pos]
            b1 = buf[pos + 1]
            ln = b1 & 0x7F
            hl = 2
            if ln == 126:
                hl = 4
                if avail < hl:
                    break
                ln = struct.unpack_from("!H", buf, pos + 2)[0]
            elif ln == 127:
                hl = 10
                if avail < hl:
                    break
                ln = struct.unpack_from("!Q", buf, pos + 2)[0]
                if ln >> 63:
                    self.violation(1002, "64-bit frame length with its top bit set")
                    pos = len(buf)
                    break
            masked = bool(b1 & 0x80)
            if masked:
                hl += 4
            if avail < hl + ln:
                break
            with memoryview(buf) as mv:
                payload = bytes(mv[pos + hl:pos + hl + ln])
                key = bytes(mv[pos + hl - 4:pos + hl]) if masked else None
            if masked:
                payload = xor_mask(payload, key)
                self.masked_frames += 1
                self.mask_keys.add(key)
            pos += hl + ln
            self._on_frame(bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0x0F, masked, payload)
        if pos:
            del buf[:pos]

    # --- I/O
    def _read(self):
        while True:
            try:
                n = self.sock.recv_into(self.rbuf)
            except (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                return
            except (ssl.SSLError, OSError) as e:
                self._lost("read error: %s" % e)
                return
            if n == 0:
                self._lost("EOF")
                return
            self.rx_octets += n
            if self.lingering is None:
                self.inbuf += memoryview(self.rbuf)[:n]
            if not (self.tls and self.sock.pending()):
                break
        if self.lingering is None:
            self._parse()

    def _flush(self):
        while self.out and self.write_error is None:
            ent = self.out[0]
            ent[3] = False
            buf, off = ent[0], ent[1]
            try:
                with memoryview(buf) as mv:
                    n = self.sock.send(mv[off:off + READ_SIZE])
            except (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                return
            except (ssl.SSLError, OSError) as e:
                self.write_error = str(e)
                self.log("write-error", str(e))
                return
            off += n
            if off < len(buf):
                ent[1] = off
                if n == 0:
                    return
                continue
            self.out.popleft()
            if ent[4]:
                ent[4]()
            if ent[2]:
                return      # a sync write: the next one after a turn of the loop

    def _lost(self, why):
        if self.state == CLOSED:
            return
        if self.out and self.write_error is None:
            self._flush()
        self.end_reason = why
        self.log("connection-lost", why)
        self.state = CLOSED

    def run(self, deadline):
        """The event loop of one case: until the TCP connection is gone or
        the case's hard deadline."""
        sel = selectors.DefaultSelector()
        sel.register(self.sock, selectors.EVENT_READ)
        mask = selectors.EVENT_READ
        try:
            while self.state != CLOSED:
                now = time.monotonic()
                if now >= deadline:
                    self.notes.append("case aborted: still running at its deadline")
                    self.clean_override = self.clean_override or "case deadline"
                    self.dropped_by_me = True
                    self._lost("case deadline")
                    break
                while self.timers and self.timers[0][0] <= now and self.state != CLOSED:
                    heapq.heappop(self.timers)[2]()
                if self.state == CLOSED:
                    break
                if self.dropping is not None and self.lingering is None and (
                        not self.out or self.write_error or now >= self.dropping):
                    try:
                        self.sock.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
                    self.lingering = now + LINGER * TIME_SCALE
                if self.lingering is not None and now >= self.lingering:
                    self._lost("dropped by the fuzzer")
                    break
                want = selectors.EVENT_READ
                if self.out and self.write_error is None and self.lingering is None:
                    want |= selectors.EVENT_WRITE
                if want != mask:
                    sel.modify(self.sock, want)
                    mask = want
                until = deadline
                if self.timers:
                    until = min(until, self.timers[0][0])
                if self.dropping is not None:
                    until = min(until, self.lingering or self.dropping)
                if self.tls and self.sock.pending():
                    until = now
                for _key, ev in sel.select(max(0.0, until - now)):
                    if ev & selectors.EVENT_READ:
                        self._read()
                    if ev & selectors.EVENT_WRITE and self.state != CLOSED:
                        self._flush()
                if self.tls and self.state != CLOSED and self.sock.pending():
                    self._read()
        finally:
            sel.close()
            try:
                self.sock.close()
            except OSError:
                pass


# ------------------------------------------------------------------ verdicts

def evaluate(case, w, opened=True):
    """Autobahn's onConnectionLost, then the case's own rules, then ours;
    fills case.behavior, behavior_close, verdict and reason."""
    if not opened:
        case.behavior = FAILED
        case.behavior_close = FAILED
        case.result_close = "The WebSocket opening handshake was never completed."
    else:
        for name in (OK, NON_STRICT) + tuple(k for k in case.expected if k not in (OK, NON_STRICT)):
            if name in case.expected and case.received == case.expected[name]:
                case.behavior = name
                case.result = "Actual events match at least one expected."
                if name != OK and OK in case.expected:
                    case.result = "Actual events %s match the %s outcome; OK is %s." % (
                        brief(case.received), name, brief(case.expected[OK]))
                break
        ec = case.expected_close
        wrong_endpoint = False
        if ec["closedByMe"] != w.closed_by_me:
            case.behavior_close = FAILED
            case.result_close = "The connection was failed by the wrong endpoint"
            wrong_endpoint = True
        elif ec["requireClean"] and not w.was_clean():
            case.behavior_close = UNCLEAN
            case.result_close = "The spec requires the connection to be failed cleanly here"
        elif w.remote_close_code is not None and w.remote_close_code not in ec["closeCode"]:
            case.behavior_close = WRONG_CODE
            case.result_close = "The close code should have been %s or empty, not %d" % (
                ",".join(str(c) for c in ec["closeCode"]), w.remote_close_code)
        elif not w.is_server and w.dropped_by_me:
            case.behavior_close = FAILED_BY_CLIENT
            case.result_close = "It is preferred that the server close the TCP connection"
        else:
            case.behavior_close = OK
            case.result_close = "Connection was properly closed"
        if w.is_server and w.masked_frames >= 3 and len(w.mask_keys) == 1:
            # RFC 6455 5.3: a fresh, unpredictable key for every frame.
            # (Two random keys may collide; a single key for 3 frames or
            # more does not happen by chance.)
            w.violations.append("the client masked its %d frames with one key (%s)" % (
                w.masked_frames, next(iter(w.mask_keys)).hex()))
        if ec.get("closedByWrongEndpointIsFatal") and wrong_endpoint:
            case.behavior = FAILED
            case.result = ("The testee did not fail the connection (the fuzzer "
                           "closed it): the invalid UTF-8 went undetected.")
        case.post_evaluate(w)
    combine(case, w)


def combine(case, w):
    """One verdict from Autobahn's two columns (README.md): the behaviour,
    unless the close column is red (FAILED, UNCLEAN) or yellow (WRONG CODE,
    FAILED BY CLIENT: NON-STRICT). Any protocol violation by the testee, or a
    problem of the testee's process, is a failure."""
    b, bc = case.behavior, case.behavior_close
    problems = list(case.extra_failures)
    if w is not None and w.violations:
        problems.insert(0, "the testee violated RFC 6455%s: %s" % (
            " or 7692" if w.deflate is not None else "", "; ".join(w.violations)))
    if problems:
        case.verdict = FAILED
        case.reason = "; ".join(problems)
    elif b == INFORMATIONAL:
        case.verdict = INFORMATIONAL
        case.reason = case.result
    elif b == FAILED:
        case.verdict = FAILED
        case.reason = case.result
        if bc != OK:
            case.reason += " [close: %s: %s]" % (bc, case.result_close)
    elif bc in (FAILED, UNCLEAN):
        case.verdict = FAILED
        case.reason = "%s: %s" % (bc, case.result_close)
    elif bc in (WRONG_CODE, FAILED_BY_CLIENT):
        case.verdict = NON_STRICT
        case.reason = "%s: %s" % (bc, case.result_close)
    else:
        case.verdict = b
        case.reason = case.result if b != OK else ""


# ------------------------------------------------------------------ expectations

class Expectations:
    """Which verdicts count as a pass, case by case. Rules are
    "PATTERN VERDICT[,VERDICT...] [# why]": PATTERN is a case id glob (6.4.*)
    or @TAG; the last matching rule wins. Without one: OK, or INFORMATIONAL
    for the cases Autobahn always reports so."""

    def __init__(self):
        self.rules = []

    def add(self, text, origin="--expect"):
        text = text.strip()
        why = ""
        if "#" in text:
            text, _, why = text.partition("#")
            text, why = text.strip(), why.strip()
        if not text:
            return
        if "=" in text and " " not in text:
            pat, _, vs = text.partition("=")
        else:
            parts = text.split(None, 1)
            if len(parts) != 2:
                raise SystemExit("wsconform: bad expectation %r (%s)" % (text, origin))
            pat, vs = parts
        verdicts = [v.strip().upper() for v in vs.split(",")]
        for v in verdicts:
            if v not in VERDICTS:
                raise SystemExit("wsconform: unknown verdict %r in %r (%s)" % (v, text, origin))
        self.rules.append((pat.strip(), verdicts, why))

    def add_file(self, path):
        with open(path, encoding="utf-8") as f:
            for i, line in enumerate(f, 1):
                self.add(line, "%s:%d" % (path, i))

    def lookup(self, case):
        found = None
        for pats, verdicts, why in self.rules:
            if any(C.matches(case, p.strip()) for p in pats.split(",") if p.strip()):
                found = (verdicts, why)
        if found:
            return found
        return ([INFORMATIONAL] if case.informational else [OK]), ""


# ------------------------------------------------------------------ reports

class Reporter:
    def __init__(self, args, role):
        self.dir = args.report_dir
        self.label = args.label or ("testee-" + role)
        self.role = role
        self.expect = Expectations()
        for e in args.expect or []:
            self.expect.add(e)
        for f in args.expect_file or []:
            self.expect.add_file(f)
        self.quiet = args.quiet
        self.results = []
        self.passed = 0
        self.failed = 0
        self.t0 = time.monotonic()
        if self.dir:
            os.makedirs(self.dir, exist_ok=True)

    def record(self, case, w, extra=None):
        want, why = self.expect.lookup(case)
        ok = case.verdict in want
        if ok:
            self.passed += 1
        else:
            self.failed += 1
        dur = int(round(1000 * case.duration))
        if ok:
            note = ""
            if case.verdict != OK:
                note = " (accepted%s)" % (": " + why if why else "")
                if case.reason:
                    note += " - " + case.reason
            line = "ok %s %s %s%s" % (self.label, case.id, case.verdict, note)
        else:
            line = "FAIL %s %s: %s, expected %s: %s" % (
                self.label, case.id, case.verdict, "/".join(want), case.reason or case.result)
        if not self.quiet or not ok:
            print(line, flush=True)
        rep = {
            "id": case.id, "agent": case.agent, "role": self.role,
            "description": case.description(self.role), "expectation": case.expectation,
            "verdict": case.verdict, "reason": case.reason,
            "expected_verdicts": want, "pass": ok,
            "behavior": case.behavior, "behaviorClose": case.behavior_close,
            "result": case.result, "resultClose": case.result_close,
            "duration_ms": dur, "started": case.started,
            "expected": {k: show_events(v) for k, v in case.expected.items()},
            "expectedClose": case.expected_close,
            "received": show_events(case.received),
            "httpRequest": case.http_request, "httpResponse": case.http_response,
        }
        if w is not None:
            rep.update({
                "closedByMe": w.closed_by_me, "failedByMe": w.failed_by_me,
                "droppedByMe": w.dropped_by_me, "wasClean": w.was_clean(),
                "wasNotCleanReason": w.clean_override,
                "localCloseCode": w.local_close_code,
                "localCloseReason": show(w.local_close_reason or b""),
                "remoteCloseCode": w.remote_close_code,
                "remoteCloseReason": show(w.remote_close_reason or b"")
                if w.close_received else None,
                "connectionEnd": w.end_reason,
                "violations": w.violations, "notes": w.notes,
                "txFrames": dict(w.tx_frames), "rxFrames": dict(w.rx_frames),
                "txOctets": w.tx_octets, "rxOctets": w.rx_octets,
                "wirelog": w.wirelog, "wirelogDropped": w.wirelog_dropped,
            })
            if w.deflate is not None:
                rep["permessageDeflate"] = w.deflate.report()
            if w.is_server and w.masked_frames:
                rep["clientMaskKeys"] = {"frames": w.masked_frames,
                                         "distinct": len(w.mask_keys)}
        if extra:
            rep.update(extra)
        self.results.append(rep)
        if self.dir:
            with open(os.path.join(self.dir, "case-%s.json" % case.id), "w") as f:
                json.dump(rep, f, indent=1)
        return ok

    def finish(self, extra_lines=()):
        counts = collections.Counter(r["verdict"] for r in self.results)
        total = len(self.results)
        elapsed = time.monotonic() - self.t0
        notok = [r for r in self.results if r["verdict"] != OK]
        lines = ["summary %s (%s role): %d cases in %.1f s: %s" % (
            self.label, self.role, total, elapsed,
            ", ".join("%s %d" % (v, counts.get(v, 0)) for v in VERDICTS))]
        for r in notok:
            lines.append("  %s %s%s: %s" % (r["id"], r["verdict"],
                                            "" if r["pass"] else " (UNEXPECTED)",
                                            r["reason"]))
        lines.extend(extra_lines)
        for l in lines:
            print("# " + l)
        if self.dir:
            index = {r["id"]: {"verdict": r["verdict"], "behavior": r["behavior"],
                               "behaviorClose": r["behaviorClose"],
                               "pass": r["pass"], "duration_ms": r["duration_ms"],
                               "reportfile": "case-%s.json" % r["id"]}
                     for r in self.results}
            with open(os.path.join(self.dir, "index.json"), "w") as f:
                json.dump({self.label: index}, f, indent=1)
            summary = {"label": self.label, "role": self.role, "cases": total,
                       "seconds": round(elapsed, 2), "counts": dict(counts),
                       "passed": self.passed, "failed": self.failed,
                       "not_ok": [{"id": r["id"], "verdict": r["verdict"],
                                   "pass": r["pass"], "reason": r["reason"]}
                                  for r in notok]}
            with open(os.path.join(self.dir, "summary.json"), "w") as f:
                json.dump(summary, f, indent=1)
            with open(os.path.join(self.dir, "summary.txt"), "w") as f:
                f.write("\n".join(lines) + "\n")
            print("# reports in %s" % self.dir)
        print("%d passed, %d failed" % (self.passed, self.failed), flush=True)
        return 0 if self.failed == 0 else 1


# ------------------------------------------------------------------ fuzzing client

def client_connect(url, args, offers=None):
    """TCP (and TLS) connection and opening handshake to the testee server,
    offering permessage-deflate when `offers` (pmd_offer dicts, in order).
    Returns (socket, leftover octets, request text, response text, Server
    header, negotiated permessage-deflate parameters or None)."""
    u = urllib.parse.urlsplit(url)
    if u.scheme not in ("ws", "wss"):
        raise HandshakeError("not a ws:// or wss:// URL: %s" % url)
    host = u.hostname or "127.0.0.1"
    port = u.port or (443 if u.scheme == "wss" else 80)
    path = u.path or "/"
    if u.query:
        path += "?" + u.query
    deadline = time.monotonic() + OPEN_HANDSHAKE_TIMEOUT
    try:
        sock = socket.create_connection((host, port), timeout=OPEN_HANDSHAKE_TIMEOUT)
    except OSError as e:
        raise ConnectionError("cannot connect to %s:%d: %s" % (host, port, e))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if u.scheme == "wss":
        ctx = ssl.create_default_context(cafile=args.cafile)
        if args.insecure:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        try:
            sock = ctx.wrap_socket(sock, server_hostname=host)
        except (ssl.SSLError, OSError) as e:
            sock.close()
            raise HandshakeError("TLS handshake failed: %s" % e)
    key = base64.b64encode(os.urandom(16)).decode()
    hostport = host if u.port is None else "%s:%d" % (host, port)
    ext = ""
    if offers:
        ext = "Sec-WebSocket-Extensions: %s\r\n" % ", ".join(pmd_format(o) for o in offers)
    req = ("GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
           "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
           "Sec-WebSocket-Version: 13\r\n%sUser-Agent: wsconform\r\n\r\n") % (
               path, hostport, key, ext)
    try:
        sock.sendall(req.encode("ascii"))
        start, headers, rest = read_http_head(sock, deadline)
    except (HandshakeError, OSError) as e:
        sock.close()
        raise HandshakeError(str(e))
    resp = start + "\r\n" + "".join("%s: %s\r\n" % h for h in headers)
    why = None
    parts = start.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.1") or parts[1] != "101":
        why = "status line %r instead of 101" % start
    elif "websocket" not in tokens(hget(headers, "upgrade")):
        why = "no Upgrade: websocket"
    elif "upgrade" not in tokens(hget(headers, "connection")):
        why = "no Connection: Upgrade"
    elif hget(headers, "sec-websocket-accept") != accept_for(key):
        why = "wrong Sec-WebSocket-Accept"
    elif hget(headers, "sec-websocket-protocol"):
        why = "a subprotocol we did not offer"
    negotiated = None
    if not why:
        try:
            negotiated = pmd_negotiate_client(hget(headers, "sec-websocket-extensions"), offers)
        except HandshakeError as e:
            why = str(e)
    if why:
        sock.close()
        raise HandshakeError("invalid opening handshake response: %s" % why)
    sock.setblocking(False)
    return sock, rest, req, resp, hget(headers, "server"), negotiated


def run_client(args):
    cases = C.select(args.cases, args.exclude, "server")
    if not cases:
        raise SystemExit("wsconform: no case selected")
    rep = Reporter(args, "server")
    unreachable = 0
    for cls in cases:
        case = cls()
        case.agent = args.agent
        case.started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        t = time.monotonic()
        w = None
        if unreachable >= 3:
            case.extra_failures.append("not run: the server is unreachable")
            case.duration = 0
            evaluate(case, None, opened=False)
            rep.record(case, None)
            continue
        try:
            sock, rest, req, resp, server, negotiated = client_connect(
                args.url, args, cls.offers and [pmd_offer(n, b) for n, b in cls.offers])
            unreachable = 0
        except (ConnectionError, HandshakeError) as e:
            if isinstance(e, ConnectionError):
                unreachable += 1
            case.extra_failures.append(str(e))
            case.duration = time.monotonic() - t
            evaluate(case, None, opened=False)
            rep.record(case, None)
            continue
        if case.agent is None:
            case.agent = server
        case.http_request, case.http_response = req, resp
        w = Wire(sock, is_server=False, leftover=rest, wirelog=case.wirelog)
        if negotiated is not None:
            w.deflate = Deflate(negotiated, is_server=False)
        w.case = case
        case.w = w
        case.open_for("server")
        w._parse()
        w.run(time.monotonic() + case.limit * args.time_scale)
        case.duration = time.monotonic() - t
        evaluate(case, w)
        rep.record(case, w)
    return rep.finish()


# ------------------------------------------------------------------ fuzzing server

class Testee:
    """The client under test when the fuzzer starts it: once per case
    (--exec, {url} in its arguments) or once for the whole run (--driver,
    {base}: it asks for the cases itself, like Autobahn's drivers)."""

    def __init__(self, template, url, errpath):
        argv = [a.replace("{url}", url).replace("{base}", url) for a in shlex.split(template)]
        self.errpath = errpath
        self.err = open(errpath, "wb")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=self.err)
        self.status = None

    def poll(self):
        if self.status is None:
            self.status = self.proc.poll()
        return self.status

    def finish(self, timeout):
        """Waits for the exit (timeout seconds), else kills. Returns
        (status, killed, stderr text)."""
        killed = False
        try:
            self.status = self.proc.wait(timeout=max(0.0, timeout))
        except subprocess.TimeoutExpired:
            killed = True
            self.proc.kill()
            self.status = self.proc.wait()
        self.err.close()
        with open(self.errpath, "rb") as f:
            text = f.read().decode("utf-8", "replace")
        try:
            os.unlink(self.errpath)
        except OSError:
            pass
        return self.status, killed, text


def parse_client_request(start, headers):
    """Checks the testee client's opening handshake (RFC 6455 4.1); returns
    (path, key, problem or None)."""
    parts = start.split(" ")
    if len(parts) != 3 or parts[0] != "GET" or parts[2] != "HTTP/1.1":
        return None, None, "request line %r" % start
    path = parts[1]
    key = hget(headers, "sec-websocket-key")
    if not hget(headers, "host"):
        return path, key, "no Host header"
    if "websocket" not in tokens(hget(headers, "upgrade")):
        return path, key, "no Upgrade: websocket"
    if "upgrade" not in tokens(hget(headers, "connection")):
        return path, key, "no Connection: Upgrade"
    if hget(headers, "sec-websocket-version") != "13":
        return path, key, "Sec-WebSocket-Version is not 13"
    try:
        if key is None or len(base64.b64decode(key, validate=True)) != 16:
            return path, key, "Sec-WebSocket-Key is not 16 octets in base64"
    except ValueError:
        return path, key, "Sec-WebSocket-Key is not base64"
    return path, key, None


class FuzzingServer:
    def __init__(self, args):
        self.args = args
        self.cases = C.select(args.cases, args.exclude, "client")
        if not self.cases:
            raise SystemExit("wsconform: no case selected")
        self.rep = Reporter(args, "client")
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", args.port))
        self.lsock.listen(16)
        self.port = self.lsock.getsockname()[1]
        self.ctx = None
        if args.tls:
            self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.ctx.load_cert_chain(args.tls[0], args.tls[1])
        self.scheme = "wss" if self.ctx else "ws"
        self.base = "%s://127.0.0.1:%d/" % (self.scheme, self.port)
        self.done = set()
        self.pending = collections.deque()
        self.nspawn = 0
        self.tmpdir = tempfile.mkdtemp(prefix="wsconform.")

    def accept(self, timeout, testee=None):
        """One connection, TLS-wrapped if need be; None on timeout or when
        the testee process exited first."""
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return None
            if testee is not None and testee.poll() is not None:
                # It may have connected just before exiting.
                self.lsock.settimeout(0.05)
                try:
                    conn, _ = self.lsock.accept()
                except (socket.timeout, BlockingIOError):
                    return None
            else:
                self.lsock.settimeout(min(left, 0.1))
                try:
                    conn, _ = self.lsock.accept()
                except socket.timeout:
                    continue
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.ctx:
                conn.settimeout(OPEN_HANDSHAKE_TIMEOUT)
                try:
                    conn = self.ctx.wrap_socket(conn, server_side=True)
                except (ssl.SSLError, OSError):
                    conn.close()
                    continue
            return conn

    def case_for_path(self, path):
        u = urllib.parse.urlsplit(path)
        q = urllib.parse.parse_qs(u.query)
        agent = (q.get("agent") or [None])[0]
        if u.path.startswith("/case/"):
            cid = u.path[len("/case/"):]
            for cls in self.cases:
                if cls.id == cid:
                    return cls, agent
            return None, agent
        if u.path == "/runCase":
            try:
                n = int((q.get("case") or ["0"])[0])
            except ValueError:
                return None, agent
            if 1 <= n <= len(self.cases):
                return self.cases[n - 1], agent
        return None, agent

    def respond(self, conn, text):
        try:
            conn.sendall(text.encode("iso-8859-1"))
        except OSError:
            pass

    def serve_one(self, conn, testee=None, want=None):
        """Reads the request of one connection and serves it: a case, or one
        of Autobahn's driver commands. Returns the case class run, if any."""
        t = time.monotonic()
        deadline = t + OPEN_HANDSHAKE_TIMEOUT
        try:
            start, headers, rest = read_http_head(conn, deadline)
        except HandshakeError as e:
            conn.close()
            if want is not None:
                self.fail_case(want, "no valid opening handshake from the client: %s" % e, testee, t)
                return want
            return None
        req = start + "\r\n" + "".join("%s: %s\r\n" % h for h in headers)
        path, key, problem = parse_client_request(start, headers)
        u = urllib.parse.urlsplit(path or "/")
        if u.path in ("/getCaseCount", "/updateReports", "/stopServer"):
            if problem:
                self.respond(conn, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                conn.close()
                return None
            self.command(conn, key, rest, u.path)
            return None
        cls, agent = self.case_for_path(path or "/")
        if cls is None or (want is not None and cls is not want):
            self.respond(conn, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            conn.close()
            if want is not None:
                self.fail_case(want, "the client asked for %r, not the case's URL" % path, testee, t)
                return want
            return None
        case = cls()
        case.agent = agent or self.args.agent or hget(headers, "user-agent")
        case.started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        case.http_request = req
        if problem:
            resp = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"
            self.respond(conn, resp)
            conn.close()
            case.http_response = resp
            case.extra_failures.append("invalid opening handshake from the client: " + problem)
            return self.finish_case(case, None, testee, t, opened=False)
        if case.refusal:
            return self.run_refusal(case, conn, key, headers, testee, t)
        negotiated, ext = None, ""
        if case.accepts is not None:
            # Sections 12 and 13 only; elsewhere an offer is declined.
            negotiated, problem = pmd_negotiate_server(
                hget(headers, "sec-websocket-extensions"), case.accepts)
            if problem:
                resp = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"
                self.respond(conn, resp)
                conn.close()
                case.http_response = resp
                case.extra_failures.append("invalid opening handshake from the client: "
                                           + problem)
                return self.finish_case(case, None, testee, t, opened=False)
            if negotiated is not None:
                ext = "Sec-WebSocket-Extensions: %s\r\n" % pmd_format(negotiated)
        resp = ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n%s"
                "Server: wsconform\r\n\r\n") % (accept_for(key), ext)
        case.http_response = resp
        try:
            conn.sendall(resp.encode("ascii"))
        except OSError as e:
            conn.close()
            case.extra_failures.append("could not send the 101: %s" % e)
            return self.finish_case(case, None, testee, t, opened=False)
        conn.setblocking(False)
        w = Wire(conn, is_server=True, leftover=rest, wirelog=case.wirelog)
        if negotiated is not None:
            w.deflate = Deflate(negotiated, is_server=True)
        w.case = case
        case.w = w
        case.open_for("client")
        w._parse()
        w.run(time.monotonic() + case.limit * self.args.time_scale)
        return self.finish_case(case, w, testee, t)

    def command(self, conn, key, rest, path):
        """Autobahn's /getCaseCount (a text message with the count, then a
        close); /updateReports and /stopServer just close."""
        conn.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n"
                      % accept_for(key)).encode("ascii"))
        conn.setblocking(False)
        w = Wire(conn, is_server=True, leftover=rest)
        if path == "/getCaseCount":
            w.send_frame(1, str(len(self.cases)).encode())
        else:
            self.stop_requested = True
        w.send_close(1000)
        w.run(time.monotonic() + 5)

    def run_refusal(self, case, conn, key, headers, testee, t):
        """Section 0.2: an invalid response, then a text frame. The client
        must hang up without sending anything."""
        resp = case.bad_response(key, headers)
        case.http_response = resp
        got = b""
        closed = False
        try:
            conn.sendall(resp.encode("iso-8859-1") + frame_header(1, 13) + b"Hello, world!")
            end = time.monotonic() + REFUSAL_WAIT * self.args.time_scale
            while True:
                left = end - time.monotonic()
                if left <= 0:
                    break
                conn.settimeout(left)
                try:
                    chunk = conn.recv(65536)
                except socket.timeout:
                    break
                if not chunk:
                    closed = True
                    break
                got += chunk
                if len(got) >= 2:
                    break       # a frame (or its start): the verdict is in
        except OSError:
            closed = True
        conn.close()
        case.refusal_result(got, closed)
        return self.finish_case(case, None, testee, t, refusal=True)

    def fail_case(self, cls, why, testee, t):
        case = cls()
        case.agent = self.args.agent
        case.started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        case.extra_failures.append(why)
        self.finish_case(case, None, testee, t, opened=False)

    def finish_case(self, case, w, testee, t, opened=True, refusal=False):
        """The case is over on the wire; its verdict also waits for the
        client's exit when the fuzzer started it (reap)."""
        case.duration = time.monotonic() - t
        self.done.add(case.id)
        self.pending.append((case, w, testee, opened, refusal,
                             time.monotonic() + self.args.exit_timeout * self.args.time_scale))
        self.reap(block=False)
        return type(case)

    def reap(self, block):
        """Verdicts and reports of the finished cases, in order: each once
        its client exited (or was killed at its deadline)."""
        while self.pending:
            case, w, testee, opened, refusal, deadline = self.pending[0]
            extra = None
            if testee is not None:
                if not block and testee.poll() is None and time.monotonic() < deadline:
                    return
                status, killed, err = testee.finish(deadline - time.monotonic())
                extra = {"client": {"exit_status": status, "killed": killed,
                                    "stderr": err[-4000:]}}
                if killed:
                    case.extra_failures.append(
                        "the client did not exit within %g s of the connection's end"
                        % self.args.exit_timeout)
                m = SANITIZER_RE.search(err)
                if m:
                    case.extra_failures.append("sanitizer report on the client's stderr: "
                                               + m.group(0))
                if refusal and not killed and status == 0:
                    case.extra_failures.append("the client exited with status 0")
            self.pending.popleft()
            if refusal:
                combine(case, None)
            else:
                evaluate(case, w, opened=opened and w is not None)
            self.rep.record(case, w, extra)

    def spawn(self, cls):
        url = self.base + "case/" + cls.id
        if self.args.agent:
            url += "?agent=" + urllib.parse.quote(self.args.agent)
        self.nspawn += 1
        return Testee(self.args.exec, url, os.path.join(
            self.tmpdir, ".wsconform-client-%d-%d.err" % (os.getpid(), self.nspawn)))

    def run_exec(self):
        """One client process per case. The next case's client is started
        as soon as this one's has connected (it waits in the listen queue),
        and a client's exit is awaited in the background: the cost of a
        process start and exit (large under sanitizers) overlaps the
        cases. Not after a case that may run long (sections 12 and 13 with
        many messages): the waiting client's own handshake timeout (30 s
        for wsev-cat) would expire in the queue."""
        nxt = None
        for i, cls in enumerate(self.cases):
            testee, t = nxt or self.spawn(cls), time.monotonic()
            conn = self.accept(self.args.connect_timeout * self.args.time_scale, testee)
            nxt = None
            if i + 1 < len(self.cases) and not cls.may_run_long():
                nxt = self.spawn(self.cases[i + 1])
            if conn is None:
                self.fail_case(cls, "the client never connected (%s)" % (
                    "it exited first" if testee.poll() is not None else
                    "%g s" % self.args.connect_timeout), testee, t)
                continue
            self.serve_one(conn, testee, want=cls)
        self.reap(block=True)

    def run_driver(self):
        """The driver (or any client, with --listen) asks for the cases.
        Ends when every case ran, the driver exited, /stopServer, or
        --run-timeout."""
        self.stop_requested = False
        testee = None
        if self.args.driver:
            testee = Testee(self.args.driver, self.base,
                            os.path.join(self.tmpdir, ".wsconform-driver-%d.err" % os.getpid()))
        end = time.monotonic() + self.args.run_timeout
        extra = []
        while time.monotonic() < end and not self.stop_requested:
            if testee is not None and testee.poll() is not None:
                conn = self.accept(0.05)
                if conn is None:
                    break
            else:
                conn = self.accept(min(1.0, end - time.monotonic()))
                if conn is None:
                    continue
            self.serve_one(conn)
            if len(self.done) == len(self.cases) and testee is None:
                break
        self.reap(block=True)
        if testee is not None:
            status, killed, err = testee.finish(10)
            extra.append("driver exit status %s%s" % (status, " (killed)" if killed else ""))
            if err.strip():
                extra.append("driver stderr: " + err.strip()[-2000:].replace("\n", "\n#   "))
        for cls in self.cases:
            if cls.id not in self.done:
                case = cls()
                case.agent = self.args.agent
                case.extra_failures.append("not run: the client never asked for this case")
                case.duration = 0
                evaluate(case, None, opened=False)
                self.rep.record(case, None)
        return extra


def run_server(args):
    fs = FuzzingServer(args)
    print("listening on %s" % fs.base, flush=True)
    extra = []
    try:
        if args.exec:
            fs.run_exec()
        else:
            extra = fs.run_driver()
    finally:
        fs.lsock.close()
        for p in fs.pending:
            if p[2] is not None and p[2].poll() is None:
                p[2].proc.kill()
        shutil.rmtree(fs.tmpdir, ignore_errors=True)
    return fs.rep.finish(extra)


# ------------------------------------------------------------------ main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)

    def common(p):
        p.add_argument("--cases", action="append",
                       help="case id globs or @tags, comma-separated (default: all)")
        p.add_argument("--exclude", action="append", help="case id globs or @tags to leave out")
        p.add_argument("--report-dir", help="write case-ID.json, index.json, summary.* here")
        p.add_argument("--label", help="name of the testee in the output lines")
        p.add_argument("--agent", help="agent name in the reports")
        p.add_argument("--expect", action="append",
                       help="PATTERN=VERDICT[,VERDICT]: accepted verdicts (default OK)")
        p.add_argument("--expect-file", action="append",
                       help="file of 'PATTERN VERDICT[,VERDICT] # why' lines")
        p.add_argument("--time-scale", type=float, default=1.0,
                       help="multiply every timer, wait and deadline (a testee under "
                            "valgrind); the verdicts then use scaled Autobahn timers")
        p.add_argument("--limit9", type=float, default=None,
                       help="cap section 9's waits (Autobahn: 10-1000 s) at this many seconds")
        p.add_argument("--quiet", action="store_true", help="print only the FAIL lines and the summary")
        p.add_argument("--deflate-count", type=int, default=None,
                       help="messages per case of sections 12 and 13 (Autobahn: 1000); "
                            "their waits shrink in proportion")

    pc = sub.add_parser("client", help="fuzzing client: test an echo server")
    pc.add_argument("url", help="ws:// or wss:// URL of the echo server")
    pc.add_argument("--cafile", help="wss://: trust this CA file")
    pc.add_argument("--insecure", action="store_true", help="wss://: no certificate check")
    common(pc)

    ps = sub.add_parser("server", help="fuzzing server: test an echo client")
    g = ps.add_mutually_exclusive_group()
    g.add_argument("--exec", help="command run once per case; {url} is the case's URL")
    g.add_argument("--driver", help="command run once; {base} is the server's URL "
                                    "(the client asks /getCaseCount, /runCase?case=N)")
    ps.add_argument("--port", type=int, default=0, help="listen on 127.0.0.1:PORT (0: any)")
    ps.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"), help="serve wss://")
    ps.add_argument("--connect-timeout", type=float, default=10.0,
                    help="--exec: seconds for the client to connect (default 10)")
    ps.add_argument("--exit-timeout", type=float, default=5.0,
                    help="--exec: seconds for the client to exit once its connection "
                         "ended (default 5)")
    ps.add_argument("--run-timeout", type=float, default=1800.0,
                    help="without --exec: end the run after this many seconds")
    common(ps)

    pl = sub.add_parser("list", help="list the cases")
    pl.add_argument("--role", choices=("server", "client"), default=None)
    pl.add_argument("--cases", action="append")
    pl.add_argument("--exclude", action="append")

    args = ap.parse_args()
    if args.cmd == "list":
        for cls in C.select(args.cases, args.exclude, args.role):
            print("%-8s %-28s %s" % (cls.id, ",".join(cls.tags), cls.description(args.role or "server")))
        return 0
    global TIME_SCALE
    TIME_SCALE = args.time_scale
    if args.limit9:
        C.LIMIT9 = args.limit9
    if args.deflate_count:
        C.DEFLATE_COUNT = args.deflate_count
    if args.cmd == "client":
        return run_client(args)
    return run_server(args)


if __name__ == "__main__":
    sys.exit(main())
