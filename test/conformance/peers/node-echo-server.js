'use strict';
/*
 * Echo server of Node's ws package (8 or later), a validation peer of
 * wsconform.py: every message goes back with its type. Prints
 * "listening on ws://127.0.0.1:PORT/" and serves until SIGTERM.
 * permessage-deflate on (ws's defaults: messages under 1024 octets go
 * uncompressed); maxPayload raised above section 9's 16 MiB.
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
const { WebSocketServer } = require('ws');

const wss = new WebSocketServer({
  host: '127.0.0.1', port: Number(process.argv[2] || 0),
  // Off by default in ws's servers; sections 12 and 13 need it.
  perMessageDeflate: true, maxPayload: 64 * 1024 * 1024,
  // ws 8.23 fails a message of more than 16384 fragments with 1008 by
  // default; 9.3.1 and 9.4.1 send 65536. Section 9 measures, it needs no limit.
  maxFragments: 0,
});
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', () => {});
});
wss.on('listening', () => {
  process.stdout.write(`listening on ws://127.0.0.1:${wss.address().port}/\n`);
});
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => wss.close(() => process.exit(0)));
}
