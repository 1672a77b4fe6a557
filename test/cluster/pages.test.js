#!/usr/bin/env node
/*
 * Headless Chromium pages among the clients of test/cluster/test-redis.sh:
 * real chat pages (samples/chat-page.c) behind nginx, counted by
 * chat-clients.py together with its Python clients as one set.
 *
 *   node pages.test.js --url http://127.0.0.1:PORT/ --dir D [--pages 2]
 *       [--lines 250] [--pace MS] [--expect-reconnect]
 *
 * The pages and chat-clients.py --pages-dir D meet in the folder D:
 *   pageN.node  this page joined; its server's "PID.THREAD" (the test
 *               kills the backend of page1's)            (written here)
 *   go          the Python clients are live: send     (by chat-clients.py)
 *   sent        every page line is in the room or refused; the pages'
 *               last ID                                       (here)
 *   done        the last ID of the room, once every client reached it
 *                                                     (chat-clients.py)
 *   pageN.json  the page's room as it shows it, once it reached that ID:
 *               { name, node, sent: [text], refused: [text],
 *                 entries: [[id, "say"|"note", name, text, mid]],
 *                 closes, states }                             (here)
 * Each page sends --lines lines with window.chat.say, one every --pace ms
 * ("line K from pageN-TAG", its name, TAG unique to this run).
 *
 * Prints "ok"/"FAIL" lines of its own (the pages open and join, every line
 * of theirs ends in the room or refused, no line shown twice, and with
 * --expect-reconnect page1, whose server was killed, showed the reconnect)
 * and "N passed, M failed". CHROMIUM, WSEV_NODE_MODULES: as for
 * test/browser/chat.test.js (test-redis.sh finds them: find_chromium).
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
'use strict';

const fs = require('fs');
const path = require('path');
const { fail, section, assert, summary, failures, guard,
    loadPlaywright, launch, withTimeout, watch, openPage, join, WAIT } =
    require('../browser/pw.js');

const STEP = 60000;		/* the bound of a wait on the other side */
const WATCHDOG = 170000;	/* the whole run; test-redis.sh allows 180 s */

function options(argv) {
	const o = { pages: 2, lines: 250, pace: 16, expectReconnect: false };
	for (let i = 2; i < argv.length; i++) {
		const a = argv[i];
		if (a === '--expect-reconnect')
			o.expectReconnect = true;
		else if (['--url', '--dir', '--pages', '--lines', '--pace']
		    .includes(a) && i + 1 < argv.length)
			o[a.slice(2)] = a === '--url' || a === '--dir' ?
			    argv[++i] : Number(argv[++i]);
		else
			throw new Error(`unknown argument ${a}`);
	}
	assert(o.url && o.dir, 'usage: --url URL --dir DIR');
	return o;
}

/* Write name in dir whole: a reader never sees half of it. */
function put(dir, name, data) {
	const file = path.join(dir, name);
	fs.writeFileSync(file + '.tmp', data);
	fs.renameSync(file + '.tmp', file);
}

/* Wait (bounded) for the other side's file; resolve to its content. */
async function fileOf(dir, name) {
	const file = path.join(dir, name);
	for (const end = Date.now() + STEP; Date.now() < end;) {
		if (fs.existsSync(file))
			return fs.readFileSync(file, 'utf8').trim();
		await new Promise((r) => setTimeout(r, 50));
	}
	throw new Error(`no ${file} within ${STEP} ms`);
}

/* Wait (bounded) for fn(arg) in page, with a bound of STEP. */
async function holds(page, what, fn, arg) {
	try {
		await page.waitForFunction(fn, arg, { timeout: STEP,
		    polling: 100 });
	} catch (e) {
		throw new Error(`${page.seen.who}: ${what} not within ${STEP} ` +
		    `ms; state ${JSON.stringify(await page.evaluate(() =>
			window.chat.state()).catch(() => null))}`);
	}
}

/* Record every data-state #status takes (MutationObserver). */
function recordStates() {
	const s = document.getElementById('status');
	window.statesSeen = [s.dataset.state];
	new MutationObserver(() => window.statesSeen.push(s.dataset.state))
	    .observe(s, { attributes: true, attributeFilter: ['data-state'] });
}

/* Send texts with window.chat.say, one every pace ms. */
async function sayAll([texts, pace]) {
	for (const t of texts) {
		window.chat.say(t);
		await new Promise((r) => setTimeout(r, pace));
	}
}

/* The room as the page shows it, and what it says it could not send. */
function shown() {
	const lis = Array.from(document.querySelectorAll('#log li'));
	return {
		entries: lis.filter((li) => li.dataset.id).map((li) => {
			const b = li.querySelector('b');
			return [li.dataset.id, b ? 'say' : 'note',
			    b ? b.textContent : null,
			    b ? li.lastChild.textContent : li.textContent,
			    li.dataset.mid || ''];
		}),
		alerts: lis.filter((li) => li.classList.contains('refused'))
		    .map((li) => li.textContent),
		pendingLis: lis.filter((li) => li.classList.contains('pending'))
		    .length,
		state: window.chat.state(),
		states: window.statesSeen,
	};
}

function after(a, b) {		/* stream IDs "MS-SEQ": is a after b? */
	const x = a.split('-').map(BigInt), y = b.split('-').map(BigInt);
	return x[0] > y[0] || (x[0] === y[0] && x[1] > y[1]);
}

async function main() {
	const o = options(process.argv);
	const { chromium } = loadPlaywright([
	    path.join(__dirname, '..', 'browser', 'node', 'node_modules')]);
	const tag = Math.random().toString(36).slice(2, 10);
	const pages = [], texts = [], result = [];
	let browser = null;

	await section([
		['pages: chromium starts', async () => {
			browser = await launch(chromium);
		}],
		[`pages: ${o.pages} pages open the chat page through nginx and join`, async () => {
			for (let i = 1; i <= o.pages; i++) {
				const name = `page${i}-${tag}`;
				const p = await openPage(browser, o.url, `page${i}`);
				await p.evaluate(recordStates);
				await join(p, name);
				const st = await p.evaluate(() => window.chat.state());
				assert(st.node, `page${i}: no node in ${JSON.stringify(st)}`);
				p.node = st.node;
				p.name = name;
				pages.push(p);
				texts.push(Array.from({ length: o.lines }, (_, k) =>
				    `line ${k} from ${name}`));
			}
			pages.forEach((p, i) => put(o.dir, `page${i + 1}.node`,
			    p.node + '\n'));
			console.log(`# nodes ${pages.map((p) => p.node).join(', ')}`);
		}],
		[`pages: each sends ${o.lines} lines with window.chat.say; ` +
		    'every one in the room or refused', async () => {
			await fileOf(o.dir, 'go');
			await Promise.all(pages.map((p, i) =>
			    p.evaluate(sayAll, [texts[i], o.pace])));
			await Promise.all(pages.map((p) => holds(p,
			    'every line in the room or refused', () =>
			    window.chat.state().pending === 0)));
			let top = null;
			for (const p of pages) {
				const id = (await p.evaluate(() =>
				    window.chat.state())).lastId;
				if (top === null || after(id, top))
					top = id;
			}
			put(o.dir, 'sent', top + '\n');
		}],
		['pages: every page as far as the room\'s last ID; files written', async () => {
			const top = await fileOf(o.dir, 'done');
			await Promise.all(pages.map((p) => holds(p,
			    `as far as ${top}`, (t) => {
				const id = window.chat.state().lastId;
				const x = id.split('-').map(BigInt);
				const y = t.split('-').map(BigInt);
				return x[0] > y[0] || (x[0] === y[0] && x[1] >= y[1]);
			    }, top)));
			for (const [i, p] of pages.entries()) {
				const s = await p.evaluate(shown);
				const refused = texts[i].filter((t) =>
				    s.alerts.some((a) => a.endsWith('): ' + t)));
				result.push(s);
				put(o.dir, `page${i + 1}.json`, JSON.stringify({
				    name: p.name, node: p.node,
				    sent: texts[i], refused, entries: s.entries,
				    closes: s.state.closes, states: s.states }));
			}
		}],
		['pages: no line shown twice (data-id, data-mid), none left pending', () => {
			for (const [i, s] of result.entries()) {
				const ids = s.entries.map((e) => e[0]);
				const mids = s.entries.map((e) => e[4])
				    .filter(Boolean);
				assert(new Set(ids).size === ids.length,
				    `page${i + 1}: an ID twice`);
				assert(new Set(mids).size === mids.length,
				    `page${i + 1}: a line (mid) twice`);
				assert(s.pendingLis === 0,
				    `page${i + 1}: ${s.pendingLis} lines pending`);
			}
		}],
		['pages: no page error', () => {
			/* A server killed under a page: Chromium may log
			 * the failed connection; nothing else is expected. */
			for (const p of pages) {
				const e = p.seen.errors.filter((m) =>
				    !o.expectReconnect ||
				    !/WebSocket connection to/.test(m));
				assert(e.length === 0, `${p.seen.who}: ` +
				    JSON.stringify(e));
			}
		}],
	].concat(o.expectReconnect ? [
		['pages: page1 lost its server: closed 1006, showed ' +
		    '"reconnecting", came back live', () => {
			const s = result[0];
			assert(s.state.closes.includes(1006),
			    `closes ${JSON.stringify(s.state.closes)}`);
			assert(s.states.includes('reconnecting'),
			    `data-state went ${JSON.stringify(s.states)}`);
			assert(s.state.live && s.states[s.states.length - 1] ===
			    'live', `now ${JSON.stringify(s.state)}`);
			console.log(`# page1 was on ${pages[0].node}, now on ` +
			    `${s.state.node}; closes ${s.state.closes}`);
		}],
	] : []));
	if (browser)
		await withTimeout(browser.close(), WAIT, 'closing chromium')
		    .catch((e) => fail('pages: chromium closes', e.message));
	console.log(summary());
}

guard(() => {}, WATCHDOG);
main().then(() => process.exit(failures() ? 1 : 0), (e) => {
	fail('pages: run', e && e.stack ? e.stack : e);
	console.log(summary());
	process.exit(1);
});
