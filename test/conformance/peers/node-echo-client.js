'use strict';
/*
 * Echo client of Node's ws package (8 or later), a validation peer of
 * wsconform.py's fuzzing server, driven like Autobahn's clients:
 *
 *   node node-echo-client.js BASE-URL [AGENT]
 *
 * asks BASE/getCaseCount, then runs BASE/runCase?case=N&agent=AGENT for
 * every case, sending every message back with its type; a connection that
 * fails (the handshake cases) just moves on. It offers permessage-deflate
 * as ws does by default (client_max_window_bits), plus
 * client_no_context_takeover (as wsev-cat does for sections 12 and 13), so
 * that the fuzzer can agree to every section 13 parameter set.
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
const WebSocket = require('ws');

const base = process.argv[2];
const agent = process.argv[3] || 'ws';
// maxFragments: 0: see node-echo-server.js.
const opts = {
  perMessageDeflate: { clientNoContextTakeover: true },
  maxPayload: 64 * 1024 * 1024, maxFragments: 0,
  handshakeTimeout: 10000,
};

function connect(url, onMessage) {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, opts);
    ws.on('message', (data, isBinary) => onMessage(ws, data, isBinary));
    ws.on('error', () => {});
    ws.on('close', () => resolve());
  });
}

async function main() {
  let count = 0;
  await connect(base + 'getCaseCount', (ws, data) => { count = Number(data.toString()); });
  for (let n = 1; n <= count; n++) {
    await connect(`${base}runCase?case=${n}&agent=${encodeURIComponent(agent)}`,
      (ws, data, isBinary) => ws.send(data, { binary: isBinary }));
  }
  await connect(`${base}updateReports?agent=${encodeURIComponent(agent)}`, () => {});
}

main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
