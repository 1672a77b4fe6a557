'use strict';
/*
 * Peer servers for wsev's client interop test (test-node-server.sh): the
 * WebSocketServer of Node's ws package (8 or later).
 *
 *   node node-server.js --log-dir DIR --cert CERT --key KEY
 *
 * Listeners on 127.0.0.1, on ports the kernel picks, printed as
 * "LABEL PORT" lines, then "ready":
 *
 *   plain     perMessageDeflate: false
 *   tls       the same over TLS (https.Server with CERT and KEY)
 *   default   no perMessageDeflate option at all: ws's default
 *   deflate   perMessageDeflate: true (compression on offer: a client
 *             that does not ask for it must not get it)
 *
 * Routes and logs are those of py-server.py: /echo, /close/CODE, /ping,
 * /blob/N, /drive, /fragments (wire_in: ws's socket bytesRead); every connection with "?id=ID" writes DIR/ID.log, one
 * fact per line, ending with "done". The "extensions" line gives the
 * Sec-WebSocket-Extensions header of the 101 (or "-") and "negotiated" the
 * extensions the ws socket ended up with (or "-").
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
const crypto = require('crypto');
const fs = require('fs');
const http = require('http');
const https = require('https');
const path = require('path');
const { WebSocketServer } = require('ws');

const SUBPROTOCOLS = ['chat', 'superchat'];

function arg(name) {
  const i = process.argv.indexOf(name);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : null;
}

const logDir = arg('--log-dir');
const cert = arg('--cert');
const key = arg('--key');
if (!logDir) {
  process.stderr.write('usage: node node-server.js --log-dir DIR [--cert C --key K]\n');
  process.exit(2);
}

function makeLog(url) {
  const id = new URL(url, 'http://x').searchParams.get('id');
  const file = id ? path.join(logDir, path.basename(id) + '.log') : null;
  const log = (line) => {
    if (file) fs.appendFileSync(file, line + '\n');
  };
  log.done = () => log('done');
  return log;
}

function sha(buf) {
  return crypto.createHash('sha256').update(buf).digest('hex');
}

function record(data, isBinary) {
  return `recv ${isBinary ? 'binary' : 'text'} ${data.length} ${sha(data)}`;
}

function driveMessages() {
  return [
    '', 'a', 'x'.repeat(125), 'y'.repeat(126), 'z'.repeat(127),
    'w'.repeat(65535), 'v'.repeat(65536), 'u'.repeat(65537),
    '0123456789abcdef'.repeat(65536), 'h\u00e9llo \u20ac \u{1F600}', 'a\u0000b',
    Buffer.alloc(0), Buffer.from([...Array(256).keys()]),
    crypto.randomBytes(125), crypto.randomBytes(126),
    crypto.randomBytes(65536), crypto.randomBytes(1 << 20),
  ];
}

/* Send each message, expect it back the same (type and bytes). */
function drive(ws, log) {
  const msgs = driveMessages();
  let i = 0;
  let timer = null;
  const next = () => {
    if (i === msgs.length) {
      log(`drive ok ${msgs.length}`);
      ws.close(1000, 'drive done');
      return;
    }
    const m = msgs[i];
    ws.send(m, { binary: Buffer.isBuffer(m) });
    timer = setTimeout(() => {
      log(`drive FAIL message ${i}: no echo in 10 s`);
      ws.terminate();
    }, 10000);
  };
  ws.on('message', (data, isBinary) => {
    clearTimeout(timer);
    const m = msgs[i];
    const want = Buffer.isBuffer(m) ? m : Buffer.from(m, 'utf8');
    if (isBinary !== Buffer.isBuffer(m) || !want.equals(data)) {
      log(`drive FAIL message ${i}: sent ${Buffer.isBuffer(m) ? 'binary' : 'text'} ` +
          `of ${want.length}, got ${isBinary ? 'binary' : 'text'} of ${data.length}`);
      ws.close(1011, 'drive mismatch');
      return;
    }
    i++;
    next();
  });
  ws.on('close', () => clearTimeout(timer));
  next();
}

/* /fragments: as py-server.py's, one text message in four frames. */
const FRAGMENTS = ['frag \u00e9 ', '\u{1F389}'.repeat(30000),
  'fragment \u2713 \u00e9 '.repeat(50000), 'end'];

function onConnection(ws, req) {
  const log = makeLog(req.url);
  const route = new URL(req.url, 'http://x').pathname;
  log('path ' + req.url);
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2)
    log(`header ${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
  log('subprotocol ' + (ws.protocol || '-'));
  log('extensions ' + (req.wsevResponseExtensions || '-'));
  log('negotiated ' + (ws.extensions || '-'));
  const wireStart = ws._socket.bytesRead;
  ws.on('error', (e) => log('error ' + e.message));
  ws.on('close', (code, reason) => {
    log('wire_in ' + (ws._socket.bytesRead - wireStart));
    log('close_code ' + code);
    log('close_reason ' + reason.toString());
    log.done();
  });
  if (route === '/fragments') {
    FRAGMENTS.forEach((p, i) => ws.send(p, { fin: i + 1 === FRAGMENTS.length, compress: true }));
    const raw = Buffer.from(FRAGMENTS.join(''), 'utf8');
    log('sent text ' + raw.length + ' ' + sha(raw));
    ws.close(1000);
  } else if (route.startsWith('/close/')) {
    ws.close(Number(route.slice('/close/'.length)), 'bye');
  } else if (route.startsWith('/blob/')) {
    const blob = crypto.randomBytes(Number(route.slice('/blob/'.length)));
    ws.send(blob, { binary: true });
    log(`sent binary ${blob.length} ${sha(blob)}`);
    ws.close(1000);
  } else if (route === '/drive') {
    drive(ws, log);
  } else {
    /* Listen at once: a message that arrives before the pong waits for
     * it (ws drops a message that no listener takes). */
    let held = route === '/ping' ? [] : null;
    const echo = (data, isBinary) => {
      log(record(data, isBinary));
      ws.send(data, { binary: isBinary });
    };
    ws.on('message', (data, isBinary) => {
      if (held) held.push([data, isBinary]);
      else echo(data, isBinary);
    });
    if (route === '/ping') {
      const release = () => {
        const h = held;
        held = null;
        for (const [d, b] of h) echo(d, b);
      };
      const t = setTimeout(() => { log('pong timeout'); release(); }, 5000);
      ws.once('pong', () => {
        clearTimeout(t);
        log('pong ok');
        ws.send('pong ok');
        release();
      });
      ws.ping(Buffer.from('are you there'));
    }
  }
}

function handleProtocols(offered) {
  for (const p of offered)
    if (SUBPROTOCOLS.includes(p)) return p;
  return false;
}

function listen(label, server, opts) {
  const wss = new WebSocketServer({ server, handleProtocols, ...opts });
  wss.on('headers', (headers, req) => {
    const ext = headers.find((h) => /^sec-websocket-extensions:/i.test(h));
    req.wsevResponseExtensions = ext ? ext.replace(/^[^:]*:\s*/, '') : null;
  });
  wss.on('connection', onConnection);
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      resolve(`${label} ${server.address().port}`);
    });
  });
}

async function main() {
  const lines = [];
  const servers = [];
  const add = (label, server, opts) => {
    servers.push(server);
    return listen(label, server, opts).then((l) => lines.push(l));
  };
  await add('plain', http.createServer(), { perMessageDeflate: false });
  if (cert)
    await add('tls', https.createServer({
      cert: fs.readFileSync(cert), key: fs.readFileSync(key),
    }), { perMessageDeflate: false });
  await add('default', http.createServer(), {});
  await add('deflate', http.createServer(), { perMessageDeflate: true });
  process.stdout.write(lines.join('\n') + '\nready\n');
  const stop = () => {
    for (const s of servers) s.close();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main();
