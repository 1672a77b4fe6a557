#!/usr/bin/env node
/*
 * Browser test of samples/chat-server: real Chromium pages (driven with
 * playwright-core) use the chat page served by chat-server, over ws:// and
 * over wss:// with a certificate made at test time.
 *
 *   CHAT_SERVER=build/samples/chat-server OUT_DIR=build/test/browser \
 *       node test/browser/chat.test.js
 *
 * CHROMIUM overrides /usr/bin/chromium. playwright-core is looked up in
 * $WSEV_NODE_MODULES, test/browser/node/node_modules beside this file and
 * under OUT_DIR, then Node's own paths; no browser is ever downloaded.
 *
 * Prints "ok NAME" or "FAIL NAME: why" for each check and a final
 * "N passed, M failed"; exits 0 iff nothing failed. Every wait is bounded
 * (10 s at most), and the servers are killed on exit, failure or signal.
 * A screenshot of Alice's page is saved as $OUT_DIR/chat.png.
 * The chat's WebSocket must negotiate permessage-deflate; then a page
 * drives test/interop/peer-server ($PEER_SERVER, when it exists) with
 * compressed messages of every size class, and one run --no-deflate.
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
'use strict';

const { spawn, execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { WAIT, ok, fail, section, assert, same, summary, failures, guard,
    loadPlaywright, launch: launchWith, withTimeout, watch, readLog, until,
    hasNote, hasSay, hasUsers, openPage, submit, join, noErrors } =
    require('./pw.js');

const WATCHDOG = 110000;	/* the whole run; test-browser.sh allows 120 s */

const CHAT_SERVER = path.resolve(process.env.CHAT_SERVER ||
    path.join(__dirname, '..', '..', 'build', 'samples', 'chat-server'));
const PEER_SERVER = path.resolve(process.env.PEER_SERVER ||
    path.join(path.dirname(path.dirname(CHAT_SERVER)), 'test', 'interop',
    'peer-server'));
const OUT_DIR = path.resolve(process.env.OUT_DIR ||
    path.join(path.dirname(path.dirname(CHAT_SERVER)), 'test', 'browser'));

/* ------------------------------------------------------------ servers */

const children = new Set();
let tmpdir = null;

function cleanup() {
	for (const c of children)
		if (c.exitCode === null && c.signalCode === null)
			try { c.kill('SIGKILL'); } catch (e) { /* gone */ }
	if (tmpdir)
		fs.rmSync(tmpdir, { recursive: true, force: true });
	tmpdir = null;
}

guard(cleanup, WATCHDOG);

/* Start chat-server with args; resolve to { proc, url, stderr() }. */
function startServer(args) {
	return new Promise((resolve, reject) => {
		const proc = spawn(CHAT_SERVER, args, {
			stdio: ['ignore', 'pipe', 'pipe'] });
		let out = '', err = '', done = false;
		const timer = setTimeout(() => finish(new Error(
		    `no "chat room ready" line in ${WAIT} ms; stdout: ` +
		    `${JSON.stringify(out)} stderr: ${JSON.stringify(err)}`)),
		    WAIT);

		function finish(e, url) {
			if (done)
				return;
			done = true;
			clearTimeout(timer);
			if (e)
				reject(e);
			else
				resolve({ proc, url, stderr: () => err,
				    exited: exitPromise(proc) });
		}
		children.add(proc);
		proc.stdout.setEncoding('utf8');
		proc.stderr.setEncoding('utf8');
		proc.stdout.on('data', (d) => {
			out += d;
			const m = /chat room ready: open (https?:\/\/127\.0\.0\.1:\d+\/) in your browser\n/.exec(out);
			if (m)
				finish(null, m[1]);
		});
		proc.stderr.on('data', (d) => { err += d; });
		proc.on('error', (e) => finish(e));
		proc.on('exit', (code, sig) => finish(new Error(
		    `chat-server ${args.join(' ')} exited (${sig || code}) ` +
		    `before it was ready; stderr: ${JSON.stringify(err)}`)));
	});
}

/* Start test/interop/peer-server; resolve to { proc, url, stderr() }. */
function startPeer(args) {
	return new Promise((resolve, reject) => {
		const proc = spawn(PEER_SERVER, args, {
			stdio: ['ignore', 'pipe', 'pipe'] });
		let out = '', err = '';
		const timer = setTimeout(() => reject(new Error(
		    `no "listening on" line from peer-server in ${WAIT} ms`)), WAIT);
		children.add(proc);
		proc.stdout.setEncoding('utf8');
		proc.stderr.setEncoding('utf8');
		proc.stdout.on('data', (d) => {
			out += d;
			const m = /^listening on (ws:\/\/127\.0\.0\.1:\d+\/)\n/.exec(out);
			if (m) {
				clearTimeout(timer);
				resolve({ proc, url: m[1], stderr: () => err });
			}
		});
		proc.stderr.on('data', (d) => { err += d; });
		proc.on('error', reject);
	});
}

function stopPeer(peer) {
	peer.proc.kill('SIGTERM');
	children.delete(peer.proc);
}

/*
 * Runs in the page: a WebSocket to peer-server at url; sends messages of
 * every size class and kind and compares the echoes, asks cmd:extensions
 * and cmd:fragments/cmd:buffer. Resolves to { extensions, wsev, bad }.
 */
function peerRound(url) {
	return new Promise((resolve, reject) => {
		const unit = 'fragment \u2713 \u00e9 ';
		const ws = new WebSocket(url);
		ws.binaryType = 'arraybuffer';
		const bad = [];
		const steps = [];
		let wsev = null;
		for (const n of [0, 1, 125, 126, 65535, 65536, 1 << 20]) {
			steps.push(['ab'.repeat(n).slice(0, n), null]);
			const b = new Uint8Array(n);
			for (let i = 0, x = n + 1; i < n; i++) {
				x = (x * 1103515245 + 12345) >>> 0;
				b[i] = x >>> 24;
			}
			steps.push([b.buffer, null]);
			steps.push(['\u00e9\u20ac\u{1F600}'.repeat(Math.ceil(n / 9)), null]);
		}
		steps.push(['cmd:fragments:7:70000', unit.repeat(70000)]);
		steps.push(['cmd:buffer:4096', unit.repeat(4096)]);
		steps.push(['cmd:extensions', 'extensions']);
		let i = 0;
		const timer = setTimeout(() => reject(new Error(
		    `peer round stuck at step ${i} of ${steps.length}`)), 9000);
		const next = () => {
			if (i === steps.length) {
				clearTimeout(timer);
				const extensions = ws.extensions;
				ws.close(1000);
				resolve({ extensions, wsev, bad });
				return;
			}
			ws.send(steps[i][0]);
		};
		ws.onopen = next;
		ws.onerror = () => reject(new Error('WebSocket error'));
		ws.onmessage = (e) => {
			const [sent, want] = steps[i];
			if (want === 'extensions') {
				wsev = e.data;
			} else if (want !== null) {
				if (e.data !== want)
					bad.push(`${sent}: ${String(e.data).length} chars`);
			} else if (typeof sent === 'string') {
				if (e.data !== sent)
					bad.push(`text of ${sent.length} chars differs`);
			} else {
				const a = new Uint8Array(sent), g = e.data instanceof
				    ArrayBuffer ? new Uint8Array(e.data) : null;
				if (!g || g.length !== a.length || g.some((v, k) => v !== a[k]))
					bad.push(`binary of ${a.length} bytes differs`);
			}
			i++;
			next();
		};
	});
}

function exitPromise(proc) {
	return new Promise((resolve) => {
		if (proc.exitCode !== null || proc.signalCode !== null)
			resolve({ code: proc.exitCode, signal: proc.signalCode });
		else
			proc.on('exit', (code, signal) => resolve({ code, signal }));
	});
}

function alive(server, name) {
	assert(server.proc.exitCode === null && server.proc.signalCode === null,
	    `${name} died (${server.proc.signalCode || server.proc.exitCode}); ` +
	    `stderr: ${JSON.stringify(server.stderr())}`);
}

/* ------------------------------------------------------------ certificate */

function makeCert(dir) {
	const cert = path.join(dir, 'cert.pem'), key = path.join(dir, 'key.pem');

	execFileSync('openssl', ['req', '-x509', '-newkey', 'ec',
	    '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
	    '-subj', '/CN=localhost',
	    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
	    '-keyout', key, '-out', cert], { stdio: ['ignore', 'ignore', 'pipe'],
	    timeout: WAIT });
	/* The SHA-256 of the certificate's SubjectPublicKeyInfo, base64, as
	 * --ignore-certificate-errors-spki-list wants it (RFC 7469 pins). */
	const spki = execFileSync('sh', ['-c',
	    'openssl x509 -in "$1" -pubkey -noout | ' +
	    'openssl pkey -pubin -outform der | ' +
	    'openssl dgst -sha256 -binary | openssl enc -base64 -A', 'sh', cert],
	    { encoding: 'utf8', timeout: WAIT }).trim();
	assert(/^[A-Za-z0-9+/]{43}=$/.test(spki), `bad SPKI hash ${spki}`);
	return { cert, key, spki };
}

/* ------------------------------------------------------------ main */

async function main() {
	const { chromium } = loadPlaywright([
	    path.join(__dirname, 'node', 'node_modules'),
	    path.join(OUT_DIR, 'node', 'node_modules')]);
	let browser = null, plain = null, tls = null, cert = null;
	let alice, bob, long, carol, dave;
	const launch = (extra) => launchWith(chromium, extra);

	/* The certificate first: the browser is told to trust its key. */
	await section([
		['tls certificate made with openssl', () => {
			tmpdir = fs.mkdtempSync(path.join(os.tmpdir(),
			    'wsev-chat-'));
			cert = makeCert(tmpdir);
		}],
	]);
	await section([
		['chromium starts', async () => {
			browser = await launch(cert ? [
			    `--ignore-certificate-errors-spki-list=${cert.spki}`]
			    : []);
		}],
	]);
	if (!browser) {
		console.log(summary());
		return;
	}

	const PLAIN1 = 'hello Bob, "quoted" \\ <i>not html</i> & co';
	const PLAIN2 = 'καλημέρα κόσμε ✓ 😀';

	/* ---- 1. two people in a plain ws:// room */
	await section([
		['plain: chat-server --port 0 starts', async () => {
			plain = await startServer(['--port', '0']);
			assert(/^http:\/\/127\.0\.0\.1:[1-9][0-9]*\/$/.test(
			    plain.url), `url ${plain.url}`);
		}],
		['plain: Alice opens the page and its WebSocket opens', async () => {
			alice = await openPage(browser, plain.url, 'Alice');
			const url = await alice.evaluate(() => ws.url);
			assert(url === plain.url.replace('http:', 'ws:') + 'ws',
			    `WebSocket url ${url}`);
		}],
		['plain: Chromium and chat-server negotiate permessage-deflate', async () => {
			const ext = await alice.evaluate(() => ws.extensions);
			assert(/^permessage-deflate(;|$)/.test(ext),
			    `ws.extensions ${JSON.stringify(ext)}`);
		}],
		['plain: Bob opens the page in another context', async () => {
			bob = await openPage(browser, plain.url, 'Bob');
		}],
		['plain: Alice joins, 1 person in the room', async () => {
			await join(alice, 'Alice', 1);
		}],
		['plain: Bob joins, both see 2 people in the room', async () => {
			await join(bob, 'Bob', 2);
			await hasNote(alice, 'Bob joined');
			await hasUsers(alice, 2);
		}],
		['plain: Bob sees what Alice says (quotes, backslash, markup)', async () => {
			await submit(alice, PLAIN1);
			await hasSay(bob, 'Alice', PLAIN1);
			await hasSay(alice, 'Alice', PLAIN1);
		}],
		['plain: Alice sees what Bob says (unicode)', async () => {
			await submit(bob, PLAIN2);
			await hasSay(alice, 'Bob', PLAIN2);
			await hasSay(bob, 'Bob', PLAIN2);
			await hasUsers(alice, 2);
			await hasUsers(bob, 2);
		}],
		['plain: both logs hold exactly the expected lines, in order', async () => {
			const note = (t) => ({ cls: 'note', name: null, text: t,
			    nodes: 1 });
			const say = (n, t) => ({ cls: 'say', name: n, text: t,
			    nodes: 2 });
			/* Both pages were open before Alice joined: they
			 * see the room's whole log, the same on both. */
			const want = [note('Alice joined'), note('Bob joined'),
			    say('Alice', PLAIN1), say('Bob', PLAIN2)];
			const a = await readLog(alice), b = await readLog(bob);
			assert(same(a, want), `Alice's log ${JSON.stringify(a)}`);
			assert(same(b, want), `Bob's log ${JSON.stringify(b)}`);
		}],
		['plain: Bob closes his page, Alice sees "Bob left" and 1 person', async () => {
			await bob.context_.close();
			await hasNote(alice, 'Bob left');
			await hasUsers(alice, 1);
			alive(plain, 'chat-server');
		}],
		['plain: screenshot of Alice\'s page', async () => {
			fs.mkdirSync(OUT_DIR, { recursive: true });
			const file = path.join(OUT_DIR, 'chat.png');
			await alice.screenshot({ path: file, timeout: WAIT });
			assert(fs.statSync(file).size > 1000, `${file} is tiny`);
			console.log(`# screenshot: ${file}`);
		}],
		['plain: a long UTF-8 name is cut at a character boundary', async () => {
			/* 11 three-byte characters: 33 bytes, 32 kept by the
			 * server, so 10 whole characters and no broken one (a
			 * broken one would be invalid UTF-8: the browser would
			 * fail the connection with 1007 and show no line). */
			long = await openPage(browser, plain.url, 'Long');
			await submit(long, '✓'.repeat(11));
			const cut = '✓'.repeat(10);
			await hasNote(alice, `${cut} joined`);
			await hasUsers(alice, 2);
			await submit(long, 'hi');
			await hasSay(alice, cut, 'hi');
			await long.context_.close();
			await hasNote(alice, `${cut} left`);
			await hasUsers(alice, 1);
		}],
		['plain: no page errors, no socket errors', () => {
			for (const p of [alice, bob, long])
				noErrors(p);
		}],
		['plain: SIGTERM: server exits 0, Alice is told 1001', async () => {
			alive(plain, 'chat-server');
			plain.proc.kill('SIGTERM');
			const st = await withTimeout(plain.exited, WAIT,
			    'chat-server exit after SIGTERM');
			assert(st.code === 0, `chat-server exited ${st.signal ||
			    st.code}; stderr: ${JSON.stringify(plain.stderr())}`);
			/* The page tries again by itself, and says so. */
			await until(alice, 'Alice is told 1001 and reconnects', () =>
			    window.chat.state().closes[0] === 1001 &&
			    document.getElementById('status').dataset.state ===
			    'reconnecting');
			const dis = await alice.evaluate(() =>
			    document.getElementById('send').disabled);
			assert(dis, '#send still enabled after the close');
		}],
	]);
	if (alice)
		await alice.context_.close().catch(() => {});

	/* ---- 2. the same over https:// and wss:// */
	const TLS1 = 'over TLS: grüße ✓';
	const TLS2 = 'wss works, Carol 🔒';

	await section([
		['tls: chat-server --tls CERT KEY --port 0 starts', async () => {
			assert(cert, 'no certificate');
			tls = await startServer(['--tls', cert.cert, cert.key,
			    '--port', '0']);
			assert(/^https:\/\/127\.0\.0\.1:[1-9][0-9]*\/$/.test(tls.url),
			    `url ${tls.url}`);
		}],
		['tls: an untrusting browser refuses the certificate', async () => {
			/* Proof that the pages below pass certificate checks
			 * because of the pinned key, not because none are done. */
			const b = await launch([]);
			try {
				const c = await b.newContext();
				const p = await c.newPage();
				let err = null;
				try {
					await p.goto(tls.url, { timeout: WAIT });
				} catch (e) {
					err = e.message;
				}
				assert(err && /ERR_CERT_AUTHORITY_INVALID/.test(err),
				    `goto without trust: ${err || 'loaded'}`);
			} finally {
				await b.close();
			}
		}],
		['tls: Carol opens the page over https, WebSocket over wss', async () => {
			carol = await openPage(browser, tls.url, 'Carol');
			const sd = await carol.response.securityDetails();
			assert(sd && sd.subjectName === 'localhost' &&
			    /^TLS 1\.[23]$/.test(sd.protocol),
			    `security details ${JSON.stringify(sd)}`);
			const url = await carol.evaluate(() => ws.url);
			assert(url === tls.url.replace('https:', 'wss:') + 'ws',
			    `WebSocket url ${url}`);
			const ext = await carol.evaluate(() => ws.extensions);
			assert(/^permessage-deflate(;|$)/.test(ext),
			    `ws.extensions over wss ${JSON.stringify(ext)}`);
		}],
		['tls: Dave opens the page in another context', async () => {
			dave = await openPage(browser, tls.url, 'Dave');
		}],
		['tls: Carol and Dave join', async () => {
			await join(carol, 'Carol', 1);
			await join(dave, 'Dave', 2);
			await hasNote(carol, 'Dave joined');
			await hasUsers(carol, 2);
		}],
		['tls: Dave sees what Carol says, Carol what Dave says', async () => {
			await submit(carol, TLS1);
			await hasSay(dave, 'Carol', TLS1);
			await submit(dave, TLS2);
			await hasSay(carol, 'Dave', TLS2);
			const want = [
			    { cls: 'note', name: null, text: 'Dave joined', nodes: 1 },
			    { cls: 'say', name: 'Carol', text: TLS1, nodes: 2 },
			    { cls: 'say', name: 'Dave', text: TLS2, nodes: 2 }];
			const c = (await readLog(carol)).slice(1);
			const d = (await readLog(dave)).slice(1);
			assert(same(c, want), `Carol's log ${JSON.stringify(c)}`);
			assert(same(d, want), `Dave's log ${JSON.stringify(d)}`);
		}],
		['tls: Dave leaves, Carol sees "Dave left" and 1 person', async () => {
			await dave.context_.close();
			await hasNote(carol, 'Dave left');
			await hasUsers(carol, 1);
		}],
		['tls: no page errors, no socket errors', () => {
			noErrors(carol);
			noErrors(dave);
		}],
		['tls: SIGTERM: server exits 0, Carol is told 1001', async () => {
			alive(tls, 'chat-server --tls');
			tls.proc.kill('SIGTERM');
			const st = await withTimeout(tls.exited, WAIT,
			    'chat-server --tls exit after SIGTERM');
			assert(st.code === 0, `chat-server --tls exited ${st.signal ||
			    st.code}; stderr: ${JSON.stringify(tls.stderr())}`);
			/* The page tries again by itself, and says so. */
			await until(carol, 'Carol is told 1001 and reconnects', () =>
			    window.chat.state().closes[0] === 1001 &&
			    document.getElementById('status').dataset.state ===
			    'reconnecting');
		}],
	]);

	/* ---- 3. Chromium's WebSocket against test/interop/peer-server:
	 * compressed echoes of every kind, wsev's fragmented and send_buffer
	 * messages, and a server that declines compression. */
	if (!fs.existsSync(PEER_SERVER)) {
		console.log(`# no ${PEER_SERVER}: peer-server checks not run`);
	} else {
		let page, peer;
		await section([
			['peer-server: starts; a page loads its /health', async () => {
				peer = await startPeer(['--max-payload', '0']);
				const context = await browser.newContext();
				context.setDefaultTimeout(WAIT);
				page = await context.newPage();
				watch(page, 'Erin');
				const r = await page.goto(peer.url.replace('ws:', 'http:') +
				    'health', { timeout: WAIT });
				assert(r && r.status() === 200,
				    `GET /health: ${r ? r.status() : 'no response'}`);
			}],
			['peer-server: permessage-deflate negotiated, echoes exact', async () => {
				const r = await page.evaluate(peerRound, peer.url);
				assert(/^permessage-deflate(;|$)/.test(r.extensions),
				    `ws.extensions ${JSON.stringify(r.extensions)}`);
				assert(r.wsev === 'extensions:permessage-deflate server_no_context_takeover=0 client_no_context_takeover=0 server_max_window_bits=15 client_max_window_bits=15',
				    `cmd:extensions ${r.wsev}`);
				assert(r.bad.length === 0, r.bad.join('; '));
			}],
			['peer-server --no-deflate: nothing negotiated, echoes exact', async () => {
				stopPeer(peer);
				peer = await startPeer(['--max-payload', '0', '--no-deflate']);
				const r = await page.evaluate(peerRound, peer.url);
				assert(r.extensions === '',
				    `ws.extensions ${JSON.stringify(r.extensions)}`);
				assert(r.wsev === 'extensions:(none)', `cmd:extensions ${r.wsev}`);
				assert(r.bad.length === 0, r.bad.join('; '));
			}],
			['peer-server: no error on its stderr', () => {
				assert(peer.stderr() === '',
				    `stderr ${JSON.stringify(peer.stderr())}`);
				stopPeer(peer);
			}],
		]);
	}

	await withTimeout(browser.close(), WAIT, 'closing chromium').catch((e) =>
	    fail('chromium closes', e.message));
	console.log(summary());
}

main().then(() => {
	cleanup();
	process.exit(failures() ? 1 : 0);
}, (e) => {
	fail('run', e && e.stack ? e.stack : e);
	console.log(summary());
	cleanup();
	process.exit(1);
});
