#!/usr/bin/env node
/*
 * Interop test: Node's ws package (the client) against wsev's
 * test/interop/peer-server, through the real HTTP handshake.
 *
 *   node node-client.js --url ws://127.0.0.1:PORT/ --server-log FILE
 *       [--cafile CERT] [--tls-max TLSv1.2] [--label NAME] [--only CASE]...
 *       [--suite main|keepalive|pong-timeout|chunked]
 *
 * The server runs with --max-payload 0 --protocol chat --protocol superchat
 * (main), and besides with --keepalive 1 (keepalive), --keepalive 1
 * --pong-timeout 1 (pong-timeout) or --chunk-size 1000 (chunked).
 * FILE is its standard output: each connection that ends there prints
 * "closed code=N data=REASON", and the scenarios check those lines in order.
 * For wss:// the client trusts CERT only (ca:), and checks the name;
 * --tls-max caps the TLS version it offers (maxVersion).
 *
 * Prints "ok LABEL: NAME" or "FAIL LABEL: NAME: WHY" per scenario, then one
 * line "N passed, M failed"; exits 0 only if nothing failed. Every wait is
 * bounded. ws is found through NODE_PATH (test-node.sh sets it).
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const http = require('http');
const https = require('https');
const WebSocket = require('ws');

const CASE_TIMEOUT = 30000;
const RECV_TIMEOUT = 10000;
const SERVER_LINE_TIMEOUT = 5000;
/* RFC 6455 §7.1.1: the server closes TCP right after the closing handshake;
 * wsev's close timeout is 5 s, so a close that only ends through it is late. */
const PROMPT = 2000;

class Fail extends Error {}

function parseArgs(argv) {
  const a = { label: 'node', only: [], suite: 'main' };
  for (let i = 2; i < argv.length; i++) {
    const k = argv[i];
    const v = argv[i + 1];
    if (v === undefined) throw new Error('missing value for ' + k);
    if (k === '--url') a.url = v;
    else if (k === '--server-log') a.serverLog = v;
    else if (k === '--cafile') a.cafile = v;
    else if (k === '--label') a.label = v;
    else if (k === '--tls-max') a.tlsMax = v;
    else if (k === '--only') a.only.push(v);
    else if (k === '--suite') a.suite = v;
    else throw new Error('unknown argument ' + k);
    i++;
  }
  if (!a.url || !a.serverLog) throw new Error('--url and --server-log are required');
  if (a.url.startsWith('wss:') && !a.cafile) throw new Error('--cafile is required for wss://');
  return a;
}

const args = parseArgs(process.argv);
const secure = args.url.startsWith('wss:');
const ca = secure ? fs.readFileSync(args.cafile) : undefined;
const hostport = args.url.split('://')[1].split('/')[0];
const healthUrl = (secure ? 'https://' : 'http://') + hostport + '/health';

/* Every connection opened, so that a failed scenario leaves none open. */
const live = new Set();

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function withTimeout(promise, ms, what) {
  let t;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      t = setTimeout(() => reject(new Fail(what + ' within ' + ms / 1000 + ' s')), ms);
    }),
  ]).finally(() => clearTimeout(t));
}

function short(v) {
  const s = Buffer.isBuffer(v) ? v.toString('hex') : JSON.stringify(String(v));
  return s.length > 80 ? s.slice(0, 80) + '...(' + v.length + ')' : s;
}

function expectEqual(what, got, want) {
  if (Buffer.isBuffer(want)) {
    if (!Buffer.isBuffer(got)) throw new Fail(what + ': got ' + typeof got + ', expected bytes');
    if (!got.equals(want)) {
      let i = 0;
      while (i < got.length && i < want.length && got[i] === want[i]) i++;
      throw new Fail(what + ': got ' + got.length + ' bytes, expected ' + want.length +
        '; first difference at ' + i);
    }
    return;
  }
  if (got !== want) throw new Fail(what + ': got ' + short(got) + ', expected ' + short(want));
}

/* ------------------------------------------------------------ server log */

const serverLog = {
  used: 0,
  closedLines() {
    return fs.readFileSync(args.serverLog, 'utf8').split('\n').filter((l) => l.startsWith('closed '));
  },
  async expect(code, data) {
    const want = 'closed code=' + code + ' data=' + data;
    const deadline = Date.now() + SERVER_LINE_TIMEOUT;
    for (;;) {
      const lines = this.closedLines();
      if (lines.length > this.used) {
        const got = lines[this.used++];
        if (got !== want) throw new Fail('server printed ' + JSON.stringify(got) +
          ', expected ' + JSON.stringify(want));
        return;
      }
      if (Date.now() > deadline) throw new Fail('server printed no ' + JSON.stringify(want) +
        ' within ' + SERVER_LINE_TIMEOUT / 1000 + ' s');
      await sleep(20);
    }
  },
  /* The next wanted.length lines are these, in any order (connections
   * that close concurrently). */
  async expectSet(wanted) {
    const deadline = Date.now() + SERVER_LINE_TIMEOUT;
    for (;;) {
      const lines = this.closedLines();
      if (lines.length >= this.used + wanted.length) {
        const got = lines.slice(this.used, this.used + wanted.length);
        this.used += wanted.length;
        if (JSON.stringify([...got].sort()) !== JSON.stringify([...wanted].sort())) {
          throw new Fail('server printed ' + JSON.stringify(got) + ', expected ' +
            JSON.stringify(wanted) + ' in any order');
        }
        return;
      }
      if (Date.now() > deadline) {
        throw new Fail('server printed ' + (lines.length - this.used) + ' of ' + wanted.length +
          ' closed lines within ' + SERVER_LINE_TIMEOUT / 1000 + ' s');
      }
      await sleep(20);
    }
  },
  async expectNothingNew() {
    await sleep(300);
    const lines = this.closedLines();
    if (lines.length > this.used) {
      const extra = lines.slice(this.used);
      this.used = lines.length;
      throw new Fail('server printed unexpected lines: ' + JSON.stringify(extra));
    }
  },
};

/* ------------------------------------------------------------ a connection */

/* Opens a WebSocket; resolves with a wrapper once open. Messages, pongs and
 * the close are recorded from the start so none is missed. */
function open(protocols, options, url) {
  const opts = Object.assign({ perMessageDeflate: false, handshakeTimeout: 10000 }, options || {});
  if (secure) {
    opts.ca = ca;
    if (args.tlsMax) opts.maxVersion = args.tlsMax;
  }
  return withTimeout(new Promise((resolve, reject) => {
    const ws = new WebSocket(url || args.url, protocols, opts);
    live.add(ws);
    const conn = {
      ws,
      response: null,
      messages: [],
      waiters: [],
      pongs: [],
      pongWaiters: [],
      closed: null,
      closeWaiters: [],
    };
    ws.on('upgrade', (res) => { conn.response = res; });
    ws.on('message', (data, isBinary) => {
      const m = { data, isBinary };
      if (conn.waiters.length) conn.waiters.shift()(m);
      else conn.messages.push(m);
    });
    ws.on('pong', (data) => {
      if (conn.pongWaiters.length) conn.pongWaiters.shift()(data);
      else conn.pongs.push(data);
    });
    ws.on('close', (code, reason) => {
      conn.closed = { code, reason: reason.toString('utf8'), at: Date.now() };
      live.delete(ws);
      for (const w of conn.closeWaiters) w(conn.closed);
      for (const w of conn.waiters) w(null);
      conn.waiters = [];
    });
    ws.on('error', (e) => { conn.error = e; reject(e); });
    ws.on('unexpected-response', (req, res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      const done = () => {
        const e = new Error('unexpected response ' + res.statusCode);
        e.statusCode = res.statusCode;
        e.body = body;
        reject(e);
        req.destroy();
      };
      res.on('end', done);
      res.on('close', done);
      res.on('error', done);
    });
    ws.on('open', () => resolve(conn));
  }), 12000, 'no handshake');
}

function recv(conn, what) {
  what = what || 'reply';
  if (conn.messages.length) return Promise.resolve(conn.messages.shift());
  if (conn.closed) {
    return Promise.reject(new Fail('connection closed (code ' + conn.closed.code + ' reason ' +
      JSON.stringify(conn.closed.reason) + ') while waiting for the ' + what));
  }
  return withTimeout(new Promise((resolve, reject) => {
    conn.waiters.push((m) => {
      if (m) resolve(m);
      else reject(new Fail('connection closed (code ' + conn.closed.code + ' reason ' +
        JSON.stringify(conn.closed.reason) + ') while waiting for the ' + what));
    });
  }), RECV_TIMEOUT, 'no ' + what);
}

async function recvText(conn, what) {
  const m = await recv(conn, what);
  if (m.isBinary) throw new Fail(what + ': got a binary message, expected text');
  return m.data.toString('utf8');
}

async function expectEcho(conn, msg, what) {
  const m = await recv(conn, what || 'echo');
  if (typeof msg === 'string') {
    if (m.isBinary) throw new Fail('echo came back binary, expected text');
    /* Compare the bytes: a lossy decode would hide a broken sequence. */
    expectEqual(what || 'echo', m.data, Buffer.from(msg, 'utf8'));
  } else {
    if (!m.isBinary) throw new Fail('echo came back text, expected binary');
    expectEqual(what || 'echo', m.data, msg);
  }
}

async function command(conn, cmd) {
  conn.ws.send('cmd:' + cmd);
  return recvText(conn, 'answer to cmd:' + cmd);
}

function waitClosed(conn, ms) {
  if (conn.closed) return Promise.resolve(conn.closed);
  return withTimeout(new Promise((resolve) => conn.closeWaiters.push(resolve)),
    ms || 10000, 'the connection did not close');
}

function pong(conn, what) {
  if (conn.pongs.length) return Promise.resolve(conn.pongs.shift());
  return withTimeout(new Promise((resolve) => conn.pongWaiters.push(resolve)),
    5000, 'no pong for ' + what);
}

/* What ws reported as an error on this connection, for failure reports. */
function clientError(conn) {
  return conn.error ? ' (ws error: ' + conn.error.message + ')' : '';
}

/* Client-initiated close: both ends see the code, promptly. */
async function closeNormally(conn, code, reason) {
  if (code === undefined) code = 1000;
  if (reason === undefined) reason = '';
  const t0 = Date.now();
  conn.ws.close(code, reason);
  const c = await waitClosed(conn);
  expectEqual('close code seen by the client' + clientError(conn), c.code, code);
  expectEqual('close reason seen by the client', c.reason, reason);
  if (c.at - t0 > PROMPT) {
    throw new Fail('closing handshake took ' + (c.at - t0) / 1000 +
      ' s (the server should close TCP at once)');
  }
  await serverLog.expect(code, reason);
}

function health() {
  return withTimeout(new Promise((resolve, reject) => {
    const mod = secure ? https : http;
    const req = mod.get(healthUrl, { ca, agent: false, maxVersion: args.tlsMax }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('error', reject);
  }), 6000, 'no answer from /health');
}

async function expectHealth(when) {
  const r = await health();
  if (r.status !== 200 || r.body !== 'ok\n') {
    throw new Fail('GET /health ' + when + ': status ' + r.status + ' body ' + JSON.stringify(r.body));
  }
}

/* ------------------------------------------------------------ data */

function rng(seed) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    return x;
  };
}

function textOf(n, seed) {
  const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ';
  const r = rng(seed + 1);
  let s = '';
  for (let i = 0; i < n; i++) s += alphabet[r() % alphabet.length];
  return s;
}

/* Exactly nbytes of UTF-8 mixing 1- to 4-byte sequences. */
function utf8Text(nbytes, seed) {
  const pieces = ['a', 'é', '€', '日', '🎉', 'ß', 'ж', '\u2028', '𝄞'];
  const r = rng(seed + 1);
  const out = [];
  let size = 0;
  while (size < nbytes) {
    let ch = pieces[r() % pieces.length];
    let n = Buffer.byteLength(ch);
    if (size + n > nbytes) { ch = 'z'; n = 1; }
    out.push(ch);
    size += n;
  }
  return out.join('');
}

/* ------------------------------------------------------------ scenarios */

const SIZES = [0, 125, 126, 65535, 65536, 1 << 20];

function echoCase(kind, size) {
  return async () => {
    const msg = kind === 'text' ? textOf(size, size) : crypto.randomBytes(size);
    const conn = await open();
    conn.ws.send(msg);
    await expectEcho(conn, msg);
    await closeNormally(conn);
  };
}

async function caseUtf8Small() {
  const msg = 'héllo wörld — 日本語 🎉 \u{1F600} Ω ∑ \u00a0 ñ';
  const conn = await open();
  conn.ws.send(msg);
  await expectEcho(conn, msg);
  await closeNormally(conn);
}

async function caseUtf8Large() {
  const msg = utf8Text(300001, 7);
  const conn = await open();
  conn.ws.send(msg);
  await expectEcho(conn, msg);
  await closeNormally(conn);
}

/* U+0000 is valid UTF-8 text; its echo must come back whole. */
async function caseTextWithNul() {
  const conn = await open();
  const msg = 'a\u0000b\u0000';
  conn.ws.send(msg);
  await expectEcho(conn, msg);
  await closeNormally(conn);
}

/* Fragments with a ping between them (RFC 6455 §5.4: control frames may be
 * injected in the middle of a fragmented message). A UTF-8 sequence is split
 * across two fragments on purpose. */
async function caseFragmented() {
  const conn = await open();
  const whole = Buffer.from('frag-one é 日本 🎉 end', 'utf8');
  const cut = whole.indexOf(Buffer.from('🎉')) + 2;
  conn.ws.send(whole.subarray(0, cut), { binary: false, fin: false });
  conn.ws.ping(Buffer.from('between'));
  conn.ws.send(whole.subarray(cut), { binary: false, fin: true });
  const p = await pong(conn, 'the ping between fragments');
  expectEqual('pong payload', p, Buffer.from('between'));
  const m = await recv(conn, 'echo');
  if (m.isBinary) throw new Fail('text echo came back binary');
  expectEqual('text echo', m.data, whole);

  const parts = [Buffer.from([0, 1]), Buffer.alloc(0), crypto.randomBytes(70000), Buffer.from([0xff])];
  parts.forEach((b, i) => conn.ws.send(b, { binary: true, fin: i === parts.length - 1 }));
  await expectEcho(conn, Buffer.concat(parts), 'binary echo');
  await closeNormally(conn);
}

async function casePipelined() {
  const r = rng(42);
  const msgs = [];
  for (let i = 0; i < 300; i++) {
    if (i % 3 === 0) msgs.push(crypto.randomBytes(r() % 20000));
    else msgs.push(i + ':' + textOf(r() % 20000, i));
  }
  const conn = await open();
  for (const m of msgs) conn.ws.send(m);
  for (let i = 0; i < msgs.length; i++) await expectEcho(conn, msgs[i], 'message ' + i);
  await closeNormally(conn);
}

async function caseHandshakeResponse() {
  const conn = await open();
  const h = conn.response.headers;
  for (const name of ['content-length', 'transfer-encoding', 'sec-websocket-extensions']) {
    if (name in h) throw new Fail('101 response has ' + name + ': ' + JSON.stringify(h[name]));
  }
  await closeNormally(conn);
}

/* The transport is what the mode says: no TLS for ws://, TLS 1.3 for wss://
 * (both ends support it), TLS 1.2 with --tls-max TLSv1.2. */
async function caseTlsVersion() {
  const conn = await open();
  const sock = conn.ws._socket;
  const got = sock && typeof sock.getProtocol === 'function' ? sock.getProtocol() : null;
  const want = !secure ? null : args.tlsMax === 'TLSv1.2' ? 'TLSv1.2' : 'TLSv1.3';
  expectEqual('transport', String(got), String(want));
  await closeNormally(conn);
}

async function caseCloseClient1000() {
  const conn = await open();
  await closeNormally(conn, 1000, '');
}

async function caseCloseClient4001() {
  const conn = await open();
  conn.ws.send('before close');
  await expectEcho(conn, 'before close');
  await closeNormally(conn, 4001, 'bye');
}

async function caseCloseClientLongReason() {
  const conn = await open();
  await closeNormally(conn, 4999, 'é'.repeat(61) + 'x'); /* 123 bytes */
}

async function caseCloseClientNoCode() {
  /* ws.close() without a code sends an empty close frame: the server
   * reports 1005 (no status) and answers with 1000, as wsev chose
   * (RFC 6455 §5.5.1 lets it answer 1000 or an empty frame). */
  const conn = await open();
  const t0 = Date.now();
  conn.ws.close();
  const c = await waitClosed(conn);
  expectEqual('close code seen by the client' + clientError(conn), c.code, 1000);
  expectEqual('close reason seen by the client', c.reason, '');
  if (c.at - t0 > PROMPT) throw new Fail('closing handshake took ' + (c.at - t0) / 1000 + ' s');
  await serverLog.expect(1005, '');
}

function serverCloseCase(code, reason) {
  return async () => {
    const conn = await open();
    const t0 = Date.now();
    conn.ws.send('cmd:close:' + code + ':' + reason);
    const c = await waitClosed(conn);
    if (conn.messages.length) throw new Fail('got a message before the close: ' + short(conn.messages[0].data));
    expectEqual('close code seen by the client' + clientError(conn), c.code, code);
    expectEqual('close reason seen by the client', c.reason, reason);
    if (c.at - t0 > PROMPT) {
      throw new Fail('server-initiated close took ' + (c.at - t0) / 1000 +
        ' s to end (the server should close TCP once the client echoed)');
    }
    await serverLog.expect(code, reason);
  };
}

/* The client keeps sending while the server's close is on its way: the
 * close completes promptly with the server's code, and nothing is echoed
 * after it (a server may not send data after its close frame). */
async function caseCloseServerWhileClientSends() {
  const conn = await open();
  const t0 = Date.now();
  conn.ws.send('cmd:close:4002:busy');
  for (let i = 0; i < 200; i++) conn.ws.send(crypto.randomBytes(1000));
  const c = await waitClosed(conn);
  if (conn.messages.length) throw new Fail('got a message after cmd:close: ' + short(conn.messages[0].data));
  expectEqual('close code seen by the client' + clientError(conn), c.code, 4002);
  expectEqual('close reason seen by the client', c.reason, 'busy');
  if (c.at - t0 > PROMPT) throw new Fail('close took ' + (c.at - t0) / 1000 + ' s');
  await serverLog.expect(4002, 'busy');
}

async function caseCloseRefused1010() {
  /* 1010 is the client's code (RFC 6455 §7.4.1): a server may not send it. */
  const conn = await open();
  expectEqual('answer', await command(conn, 'close:1010:x'), 'close-refused:1010');
  await closeNormally(conn);
}

async function caseCloseRefusedLong() {
  /* A reason of 124 bytes does not fit a close frame: refused, not cut. */
  const conn = await open();
  expectEqual('answer', await command(conn, 'close:4000:' + 'y'.repeat(124)), 'close-refused:4000');
  conn.ws.send('still open');
  await expectEcho(conn, 'still open');
  await closeNormally(conn);
}

async function expectRefused(protocols, url, status) {
  let conn;
  try {
    conn = await open(protocols, undefined, url);
  } catch (e) {
    if (e instanceof Fail) throw e;
    if (e.statusCode !== status) throw new Fail('expected HTTP ' + status + ', got ' + (e.statusCode || e.message));
    await serverLog.expectNothingNew();
    return;
  }
  conn.ws.terminate();
  throw new Fail('handshake accepted (protocol ' + JSON.stringify(conn.ws.protocol) + ')');
}

async function caseQueryString() {
  /* The route "/" also serves "/?query" (evhttp routes by path). */
  const conn = await open(undefined, undefined, args.url + '?token=abc&x=%20');
  conn.ws.send('with query');
  await expectEcho(conn, 'with query');
  await closeNormally(conn);
}

async function caseCloseRefusedCode() {
  const conn = await open();
  expectEqual('answer', await command(conn, 'close:1006:x'), 'close-refused:1006');
  conn.ws.send('still open');
  await expectEcho(conn, 'still open');
  await closeNormally(conn);
}

async function caseSubprotocolServerOrder() {
  const conn = await open(['superchat', 'chat']);
  expectEqual("client's protocol", conn.ws.protocol, 'chat');
  expectEqual("server's protocol", await command(conn, 'protocol'), 'protocol:chat');
  await closeNormally(conn);
}

async function caseSubprotocolSingle() {
  const conn = await open(['superchat']);
  expectEqual("client's protocol", conn.ws.protocol, 'superchat');
  expectEqual("server's protocol", await command(conn, 'protocol'), 'protocol:superchat');
  await closeNormally(conn);
}

async function caseSubprotocolNone() {
  const conn = await open();
  expectEqual("client's protocol", conn.ws.protocol, '');
  expectEqual("server's protocol", await command(conn, 'protocol'), 'protocol:(none)');
  await closeNormally(conn);
}

/* 20 connections at once, each echoing messages of its own. */
async function caseConcurrent() {
  const one = async (i) => {
    const conn = await open();
    for (let j = 0; j < 10; j++) {
      const m = j % 2 ? crypto.randomBytes(997 * i + j) : textOf(313 * i + j, j);
      conn.ws.send(m);
      await expectEcho(conn, m, 'conn ' + i + ' message ' + j);
    }
    conn.ws.close(4000 + i, 'conn ' + i);
    const c = await waitClosed(conn);
    expectEqual('close code seen by conn ' + i, c.code, 4000 + i);
  };
  await Promise.all([...Array(20).keys()].map(one));
  await serverLog.expectSet([...Array(20).keys()].map((i) => 'closed code=' + (4000 + i) + ' data=conn ' + i));
}

async function caseSubprotocolRefused() {
  await expectRefused(['other'], undefined, 400);
}

async function caseExtraHeaders() {
  const conn = await open(undefined, {
    headers: { Authorization: 'Bearer x', Cookie: 'session=abc; theme=dark' },
  });
  expectEqual('Authorization', await command(conn, 'header:Authorization'), 'header:Bearer x');
  expectEqual('cookie (any case)', await command(conn, 'header:cookie'), 'header:session=abc; theme=dark');
  expectEqual('absent header', await command(conn, 'header:X-Absent'), 'header:(none)');
  await closeNormally(conn);
}

/* ------------------------------------------------------------ deflate */

const UNIT = 'fragment \u2713 \u00e9 '; /* peer-server's cmd:fragments unit */
const DEFAULT_EXT = 'permessage-deflate server_no_context_takeover=0 ' +
  'client_no_context_takeover=0 server_max_window_bits=15 client_max_window_bits=15';

/* Both ends agree on WANT (cmd:extensions form), and a compressible 1 MiB
 * message comes back in under a tenth of its size on the wire (or more than
 * its size without compression). */
async function expectDeflate(conn, want, header) {
  const ext = conn.response.headers['sec-websocket-extensions'];
  expectEqual('Sec-WebSocket-Extensions', ext === undefined ? '(none)' : ext, header);
  /* ws 8 lists the names of the extensions in use. */
  expectEqual('ws.extensions', conn.ws.extensions, header === '(none)' ? '' : 'permessage-deflate');
  expectEqual("wsev's extensions", await command(conn, 'extensions'), 'extensions:' + want);
  const msg = 'compressible '.repeat(80660);
  const before = conn.ws._socket.bytesRead;
  conn.ws.send(msg);
  await expectEcho(conn, msg);
  const wire = conn.ws._socket.bytesRead - before;
  if (want === '(none)') {
    if (wire < msg.length) throw new Fail(wire + ' bytes on the wire for ' + msg.length + ' uncompressed');
  } else if (wire * 10 > msg.length) {
    throw new Fail(wire + ' bytes on the wire for a compressible ' + msg.length +
      '-byte message: wsev did not compress');
  }
}

/* ws offers permessage-deflate (perMessageDeflate: true, as by default)
 * and the route accepts it. */
async function caseDeflateNegotiated() {
  const conn = await open(undefined, { perMessageDeflate: true });
  await expectDeflate(conn, DEFAULT_EXT, 'permessage-deflate; client_max_window_bits=15');
  await closeNormally(conn);
}

/* The other scenarios offer nothing: nothing is negotiated. */
async function caseDeflateNotOffered() {
  const conn = await open();
  await expectDeflate(conn, '(none)', '(none)');
  await closeNormally(conn);
}

/* All four parameters offered (RFC 7692 §7.1); wsev answers each. */
async function caseDeflateParameters() {
  const conn = await open(undefined, { perMessageDeflate: {
    clientNoContextTakeover: true, serverNoContextTakeover: true,
    serverMaxWindowBits: 10, clientMaxWindowBits: 9 } });
  const hdr = conn.response.headers['sec-websocket-extensions'] || '';
  for (const p of ['server_no_context_takeover', 'client_no_context_takeover',
    'server_max_window_bits=10', 'client_max_window_bits=9']) {
    if (!hdr.split(/;\s*/).includes(p)) throw new Fail('the answer ' + JSON.stringify(hdr) + ' lacks ' + p);
  }
  expectEqual("wsev's extensions", await command(conn, 'extensions'),
    'extensions:permessage-deflate server_no_context_takeover=1 client_no_context_takeover=1 ' +
    'server_max_window_bits=10 client_max_window_bits=9');
  await deflateSizes(conn);
  await closeNormally(conn);
}

/* Every size class, compressible text, random binary, multibyte UTF-8. */
async function deflateSizes(conn) {
  for (const size of [0, 1, 125, 126, 65535, 65536, 1 << 20]) {
    for (const msg of ['ab'.repeat(size).slice(0, size), crypto.randomBytes(size), utf8Text(size, size)]) {
      conn.ws.send(msg);
      await expectEcho(conn, msg, 'echo of ' + size + (typeof msg === 'string' ? ' text' : ' binary'));
    }
  }
}

async function caseDeflateSizes() {
  const conn = await open(undefined, { perMessageDeflate: true });
  await deflateSizes(conn);
  await closeNormally(conn);
}

/* ws's fragmented sends (fin: false), compressed as one stream. */
async function caseDeflatePeerFragments() {
  const conn = await open(undefined, { perMessageDeflate: { threshold: 0 } });
  const whole = Buffer.from('frag é ' + '🎉'.repeat(30000) + UNIT.repeat(5000) + 'end', 'utf8');
  const cuts = [0, 5, 8, 60001, 100000, whole.length];
  for (let i = 0; i + 1 < cuts.length; i++) {
    conn.ws.send(whole.subarray(cuts[i], cuts[i + 1]), { binary: false, fin: i + 2 === cuts.length, compress: true });
  }
  const m = await recv(conn, 'echo');
  if (m.isBinary) throw new Fail('text echo came back binary');
  expectEqual('text echo', m.data, whole);
  const parts = [crypto.randomBytes(1000), Buffer.alloc(0), Buffer.alloc(100000), crypto.randomBytes(65536)];
  parts.forEach((b, i) => conn.ws.send(b, { binary: true, fin: i === parts.length - 1, compress: true }));
  await expectEcho(conn, Buffer.concat(parts), 'binary echo');
  await closeNormally(conn);
}

/* wsev_connection_send_fragment (cut inside code points, pings between)
 * and send_buffer, compressed: ws gets them whole. */
async function caseDeflateWsevFragments() {
  const conn = await open(undefined, { perMessageDeflate: true });
  for (const [n, units] of [[1, 0], [1, 1], [3, 1], [2, 8], [7, 70000], [64, 4096]]) {
    conn.ws.send('cmd:fragments:' + n + ':' + units);
    expectEqual('cmd:fragments:' + n + ':' + units, await recvText(conn, 'fragmented message'), UNIT.repeat(units));
  }
  for (const units of [0, 1, 70000]) {
    conn.ws.send('cmd:buffer:' + units);
    expectEqual('cmd:buffer:' + units, await recvText(conn, 'send_buffer message'), UNIT.repeat(units));
  }
  conn.ws.send('after');
  await expectEcho(conn, 'after');
  await closeNormally(conn);
}

/* peer-server --keepalive 1: ws answers the pings, wsev counts the pongs
 * (waits up to 10 s for two) and the connection stays OPEN. */
async function caseKeepalive() {
  const conn = await open(undefined, { perMessageDeflate: true });
  const deadline = Date.now() + 10000;
  for (;;) {
    const got = await command(conn, 'pongs');
    if (!got.startsWith('pongs:')) throw new Fail('cmd:pongs answered ' + got);
    if (Number(got.slice(6)) >= 2) break;
    if (Date.now() > deadline) throw new Fail(got + ' within 10 s of --keepalive 1');
    await sleep(500);
  }
  const msg = 'still open '.repeat(1000);
  conn.ws.send(msg);
  await expectEcho(conn, msg);
  await closeNormally(conn);
}

/* peer-server --keepalive 1 --pong-timeout 1 and ws with autoPong: false:
 * wsev closes with 1008. */
async function casePongTimeout() {
  const conn = await open(undefined, { perMessageDeflate: true, autoPong: false });
  let pings = 0;
  conn.ws.on('ping', () => { pings++; });
  const c = await waitClosed(conn, 15000);
  expectEqual('close code seen by the client', c.code, 1008);
  if (pings < 1) throw new Fail('closed before any ping');
  const lines = serverLog.closedLines();
  const deadline = Date.now() + SERVER_LINE_TIMEOUT;
  while (serverLog.closedLines().length <= serverLog.used && Date.now() < deadline) await sleep(50);
  const got = serverLog.closedLines()[serverLog.used];
  serverLog.used++;
  if (!got || !got.startsWith('closed code=1008 ')) {
    throw new Fail('server printed ' + JSON.stringify(got) + ', expected code 1008 (' + lines.length + ' lines)');
  }
}

/* peer-server --chunk-size 1000: 1 MiB text and binary, compressed, come
 * in pieces of at most 1000 bytes and go back whole. */
async function caseChunked() {
  const conn = await open(undefined, { perMessageDeflate: true });
  for (const msg of [utf8Text(1 << 20, 11), crypto.randomBytes(1 << 20)]) {
    conn.ws.send(msg);
    await expectEcho(conn, msg);
    const got = (await command(conn, 'chunks')).split(':');
    if (got.length !== 3 || Number(got[1]) < (1 << 20) / 1000 || Number(got[2]) > 1000 || Number(got[2]) === 0) {
      throw new Fail('cmd:chunks answered ' + got.join(':') + ' for 1 MiB in pieces of 1000');
    }
  }
  await closeNormally(conn);
}

async function casePing() {
  const conn = await open();
  for (const data of [Buffer.from('ping-data'), Buffer.alloc(0), Buffer.from([...Array(125).keys()])]) {
    conn.ws.ping(data);
    expectEqual('pong payload', await pong(conn, 'a ping of ' + data.length + ' bytes'), data);
  }
  /* A ping behind a big message: the pong comes, and so does the echo. */
  const big = crypto.randomBytes(1 << 20);
  conn.ws.send(big);
  conn.ws.ping(Buffer.from('behind'));
  expectEqual('pong payload', await pong(conn, 'the ping behind 1 MiB'), Buffer.from('behind'));
  await expectEcho(conn, big);
  await closeNormally(conn);
}

async function caseHealth() {
  await expectHealth('before any WebSocket');
  const conn = await open();
  conn.ws.send('x');
  await expectEcho(conn, 'x');
  await expectHealth('while a WebSocket is open');
  conn.ws.send('y');
  await expectEcho(conn, 'y', 'echo after /health');
  await closeNormally(conn);
  await expectHealth('after the WebSocket closed');
}

const cases = [];
for (const kind of ['text', 'binary']) {
  for (const size of SIZES) cases.push(['echo-' + kind + '-' + size, echoCase(kind, size)]);
}
cases.push(
  ['echo-utf8', caseUtf8Small],
  ['echo-utf8-300KB', caseUtf8Large],
  ['echo-text-with-U+0000', caseTextWithNul],
  ['echo-fragmented-with-ping', caseFragmented],
  ['echo-pipelined-300', casePipelined],
  ['handshake-101-headers', caseHandshakeResponse],
  ['transport-tls-version', caseTlsVersion],
  ['close-client-1000', caseCloseClient1000],
  ['close-client-4001-bye', caseCloseClient4001],
  ['close-client-123-byte-reason', caseCloseClientLongReason],
  ['close-client-no-code', caseCloseClientNoCode],
  ['close-server-4002', serverCloseCase(4002, 'server-bye')],
  ['close-server-1000-empty', serverCloseCase(1000, '')],
  ['close-server-123-byte-reason', serverCloseCase(4000, 'ü'.repeat(61) + 'x')],
  ['close-server-1011', serverCloseCase(1011, 'oops')],
  ['close-server-while-client-sends', caseCloseServerWhileClientSends],
  ['close-server-refuses-1006', caseCloseRefusedCode],
  ['close-server-refuses-1010', caseCloseRefused1010],
  ['close-server-refuses-124-byte-reason', caseCloseRefusedLong],
  ['subprotocol-server-order', caseSubprotocolServerOrder],
  ['subprotocol-single', caseSubprotocolSingle],
  ['subprotocol-none-offered', caseSubprotocolNone],
  ['subprotocol-refused-400', caseSubprotocolRefused],
  /* Subprotocol names match case-sensitively (wsev.h). */
  ['subprotocol-case-sensitive', () => expectRefused(['CHAT'], undefined, 400)],
  ['unknown-path-404', () => expectRefused(undefined, args.url + 'no-such-route', 404)],
  ['query-string', caseQueryString],
  ['extra-headers', caseExtraHeaders],
  ['concurrent-20', caseConcurrent],
  ['permessage-deflate-negotiated', caseDeflateNegotiated],
  ['permessage-deflate-not-offered', caseDeflateNotOffered],
  ['deflate-four-parameters', caseDeflateParameters],
  ['deflate-size-classes', caseDeflateSizes],
  ['deflate-peer-fragments', caseDeflatePeerFragments],
  ['deflate-wsev-fragments-and-buffer', caseDeflateWsevFragments],
  ['ping-pong', casePing],
  ['health-around-websocket', caseHealth],
);

const suites = {
  main: cases,
  keepalive: [['keepalive-pongs', caseKeepalive]],
  'pong-timeout': [['pong-timeout-1008', casePongTimeout]],
  chunked: [['chunked-receive-1MiB', caseChunked]],
};

async function main() {
  /* Lines from before this run (none with a fresh server) are not ours. */
  serverLog.used = serverLog.closedLines().length;
  let passed = 0;
  let failed = 0;
  const report = (name, err) => {
    if (err) {
      const why = err instanceof Fail ? err.message : (err.name || 'Error') + ': ' + err.message;
      console.log('FAIL ' + args.label + ': ' + name + ': ' + why);
      failed++;
    } else {
      console.log('ok ' + args.label + ': ' + name);
      passed++;
    }
  };
  if (!suites[args.suite]) throw new Error('unknown suite ' + args.suite);
  for (const [name, fn] of suites[args.suite]) {
    if (args.only.length && !args.only.includes(name)) continue;
    try {
      await withTimeout(fn(), CASE_TIMEOUT, 'the scenario did not finish');
      report(name, null);
    } catch (e) {
      report(name, e);
      /* Start the next scenario afresh: end what this one left open and
       * skip the server lines it did not consume. */
      for (const ws of live) ws.terminate();
      live.clear();
      await sleep(500);
      serverLog.used = serverLog.closedLines().length;
    }
  }
  try {
    await serverLog.expectNothingNew();
    report('no-stray-closes', null);
  } catch (e) {
    report('no-stray-closes', e);
  }
  console.log(passed + ' passed, ' + failed + ' failed');
  process.exitCode = failed ? 1 : 0;
  /* A scenario that failed may leave a socket open: do not wait for it. */
  setTimeout(() => process.exit(process.exitCode), 100).unref();
}

main().catch((e) => {
  console.log('FAIL ' + args.label + ': internal: ' + e.stack);
  console.log('0 passed, 1 failed');
  process.exit(1);
});
