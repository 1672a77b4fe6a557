/*
 * pw.js: what the tests that drive Debian's Chromium with playwright-core
 * share (test/browser/chat.test.js, test/cluster/pages.test.js):
 *
 *   reporting   ok, fail, section (steps in order; after a failure the rest
 *               is "not run"), assert, same, summary ("N passed, M failed"),
 *               failures; guard(cleanup, ms): cleanup on exit and on
 *               SIGINT/SIGTERM/SIGHUP, and a watchdog of ms for the run
 *   browser     loadPlaywright(dirs) ($WSEV_NODE_MODULES, then dirs, then
 *               Node's own paths; never a downloaded browser),
 *               launch(chromium, args) (CHROMIUM, default /usr/bin/chromium)
 *   pages       watch (errors and sockets a page saw), readLog, readStatus,
 *               describe, until (a bounded waitForFunction that says what
 *               the page showed), hasNote, hasSay, hasUsers, openPage,
 *               submit, join, noErrors; withTimeout
 *
 * Every wait is bounded by WAIT (10 s).
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
'use strict';

const WAIT = 10000;		/* the bound of every single wait, in ms */

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu',
    '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'];

/* ------------------------------------------------------------ reporting */

let passed = 0, failed = 0;

function ok(name) {
	passed++;
	console.log(`ok ${name}`);
}

function fail(name, why) {
	failed++;
	console.log(`FAIL ${name}: ${String(why).replace(/\s*\n\s*/g, ' | ')}`);
}

/*
 * A section runs its steps in order; after the first failure the rest of
 * the section cannot mean anything and is reported as not run (a failure).
 */
async function section(steps) {
	let broken = null;

	for (const [name, fn] of steps) {
		if (broken) {
			fail(name, `not run: "${broken}" failed`);
			continue;
		}
		try {
			await fn();
			ok(name);
		} catch (e) {
			fail(name, e && e.message ? e.message : e);
			broken = name;
		}
	}
}

function assert(cond, why) {
	if (!cond)
		throw new Error(why);
}

function same(a, b) {
	return JSON.stringify(a) === JSON.stringify(b);
}

function summary(more) {
	return `${passed} passed, ${failed + (more || 0)} failed`;
}

function failures() {
	return failed;
}

/*
 * cleanup() on exit and on a signal; after ms the run is a failure and
 * ends (the shell's timeout must not cut the summary line).
 */
function guard(cleanup, ms) {
	process.on('exit', cleanup);
	for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'])
		process.on(sig, () => {
			console.log(`FAIL run: killed by ${sig}`);
			console.log(summary(1));
			cleanup();
			process.exit(1);
		});
	setTimeout(() => {
		console.log(`FAIL run: not done within ${ms / 1000} s`);
		console.log(summary(1));
		process.exit(1);
	}, ms).unref();
}

/* ------------------------------------------------------------ browser */

function loadPlaywright(dirs) {
	for (const d of [process.env.WSEV_NODE_MODULES].concat(dirs)
	    .filter(Boolean)) {
		try {
			return require(require.resolve('playwright-core',
			    { paths: [d] }));
		} catch (e) { /* next */ }
	}
	return require('playwright-core');
}

function launch(chromium, extra) {
	return chromium.launch({ executablePath: CHROMIUM,
	    args: CHROMIUM_ARGS.concat(extra || []), timeout: WAIT });
}

function withTimeout(promise, ms, what) {
	let timer;
	return Promise.race([promise, new Promise((_, reject) => {
		timer = setTimeout(() => reject(new Error(
		    `${what}: not within ${ms} ms`)), ms);
	})]).finally(() => clearTimeout(timer));
}


/* ------------------------------------------------------------ pages */

/* Everything a page saw that the assertions do not read from the DOM. */
function watch(page, who) {
	const seen = { who, errors: [], sockets: [] };

	page.on('pageerror', (e) => seen.errors.push(`page error: ${e.message}`));
	page.on('console', (m) => {
		const url = m.location().url || 'no url';

		if (m.type() !== 'error')
			return;
		/* The browser asks for /favicon.ico by itself; the sample
		 * serves "/" and "/ws" only, so that one 404 is expected. */
		if (/\/favicon\.ico$/.test(url) && /status of 404/.test(m.text()))
			return;
		seen.errors.push(`console: ${m.text()} (${url})`);
	});
	page.on('websocket', (ws) => {
		const s = { url: ws.url(), received: 0, sent: 0, error: null,
		    closed: false };

		seen.sockets.push(s);
		ws.on('framereceived', () => s.received++);
		ws.on('framesent', () => s.sent++);
		ws.on('socketerror', (e) => { s.error = String(e); });
		ws.on('close', () => { s.closed = true; });
	});
	page.seen = seen;
	return seen;
}

/* The log as data: { cls, name, text } for every <li>. */
function readLog(page) {
	return page.$$eval('#log li', (lis) => lis.map((li) => {
		const b = li.querySelector('b');
		return {
			cls: li.className,
			name: b ? b.textContent : null,
			text: b ? Array.from(li.childNodes).filter((n) => n !== b)
			    .map((n) => n.textContent).join('') : li.textContent,
			nodes: li.childNodes.length,
		};
	}));
}

function readStatus(page) {
	return page.$eval('#status', (s) => ({ text: s.textContent,
	    users: s.dataset.users === undefined ? null : s.dataset.users }));
}

async function describe(page) {
	let log, status;
	try {
		log = (await readLog(page)).map((l) => l.name === null ?
		    `(${l.text})` : `${l.name}: ${l.text}`);
		status = await readStatus(page);
	} catch (e) {
		return `page unreadable: ${e.message}`;
	}
	let s = `${page.seen.who} sees status ${JSON.stringify(status.text)} ` +
	    `data-users=${status.users}, log ${JSON.stringify(log)}`;
	if (page.seen.errors.length)
		s += `, errors ${JSON.stringify(page.seen.errors)}`;
	for (const w of page.seen.sockets)
		if (w.error || w.closed)
			s += `, socket ${w.url} ${w.error ? 'error ' + w.error : 'closed'}`;
	return s;
}

/* Wait (bounded) for fn(arg) to hold in page; say what it saw if not. */
async function until(page, what, fn, arg) {
	try {
		await page.waitForFunction(fn, arg, { timeout: WAIT });
	} catch (e) {
		throw new Error(`${what}: not within ${WAIT} ms; ` +
		    await describe(page));
	}
}

function hasNote(page, note) {
	return until(page, `${page.seen.who} sees "${note}"`, (n) =>
	    Array.from(document.querySelectorAll('#log li.note'))
		.some((li) => li.textContent === n), note);
}

function hasSay(page, name, text) {
	return until(page, `${page.seen.who} sees ${name} say ` +
	    JSON.stringify(text), ([n, t]) =>
	    Array.from(document.querySelectorAll('#log li.say')).some((li) => {
		const b = li.querySelector('b');
		return b && b.textContent === n && li.childNodes.length === 2 &&
		    li.childNodes[1].nodeType === Node.TEXT_NODE &&
		    li.childNodes[1].textContent === t;
	    }), [name, text]);
}

async function hasUsers(page, n) {
	const text = `${n} ${n === 1 ? 'person' : 'people'} in the room`;
	await until(page, `${page.seen.who} sees data-users=${n}`, ([n, t]) => {
		const s = document.getElementById('status');
		return s.dataset.users === String(n) && s.textContent === t;
	}, [n, text]);
}

/* Open url in a fresh context; wait until #send is enabled. */
async function openPage(browser, url, who) {
	const context = await browser.newContext({
		viewport: { width: 720, height: 480 } });
	context.setDefaultTimeout(WAIT);
	context.setDefaultNavigationTimeout(WAIT);
	const page = await context.newPage();
	watch(page, who);
	const response = await page.goto(url, { timeout: WAIT });
	assert(response && response.status() === 200,
	    `GET ${url}: ${response ? response.status() : 'no response'}`);
	const type = response.headers()['content-type'];
	assert(type === 'text/html; charset=utf-8', `Content-Type ${type}`);
	assert(await page.title() === 'wsev chat',
	    `title ${JSON.stringify(await page.title())}`);
	page.response = response;
	page.context_ = context;
	await until(page, `${who}'s #send enabled (WebSocket open)`, () =>
	    !document.getElementById('send').disabled);
	return page;
}

/* Type v into #text and press the button, as a user does. */
async function submit(page, v) {
	await page.fill('#text', v);
	await page.click('#send');
	await until(page, `${page.seen.who}'s input cleared after sending`,
	    () => document.getElementById('text').value === '');
}

/* Join as name; with expectUsers, the page must count that many people. */
async function join(page, name, expectUsers) {
	await submit(page, name);
	await hasNote(page, `${name} joined`);
	if (expectUsers !== undefined)
		await hasUsers(page, expectUsers);
	const label = await page.textContent('#send');
	assert(label === 'Send', `button says ${JSON.stringify(label)} ` +
	    'after joining, not "Send"');
}

function noErrors(page) {
	assert(page.seen.errors.length === 0,
	    `${page.seen.who}: ${JSON.stringify(page.seen.errors)}`);
	for (const w of page.seen.sockets)
		assert(!w.error, `${page.seen.who}: socket ${w.url}: ${w.error}`);
}

module.exports = { WAIT, CHROMIUM, ok, fail, section, assert, same, summary,
    failures, guard, loadPlaywright, launch, withTimeout, watch, readLog,
    readStatus, describe, until, hasNote, hasSay, hasUsers, openPage,
    submit, join, noErrors };
