// browser.mjs - open the page in headless Chromium (Debian's, no download),
// driven over the DevTools protocol on a pipe (--remote-debugging-pipe), wait
// until every ?say= line has its reply and the program waits for the next
// line, and print what happened as JSON:
//
//   node web/test/browser.mjs URL [--screenshot out.png [--clip WxH]] [--timeout 60]
//   stdout: {"transcript": "...", "state": {...}, "requests": [urls],
//            "errors": [page exceptions and console errors]}
//
// CHROMIUM names the browser binary (default: chromium on PATH).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run', '--no-default-browser-check',
    '--disable-extensions', '--mute-audio', '--hide-scrollbars', '--window-size=1180,1000',
    '--remote-debugging-pipe'];

const argv = process.argv.slice(2);
const url = argv[0];
const opt = { screenshot: null, clip: null, timeout: 60 };
for (let i = 1; i < argv.length; i += 2) opt[argv[i].replace(/^--/, '')] = argv[i + 1];

class Cdp {
    constructor(child) {
        this.writer = child.stdio[3];
        this.nextId = 1;
        this.pending = new Map();
        this.listeners = [];
        let buffer = Buffer.alloc(0);
        child.stdio[4].on('data', (chunk) => {
            buffer = Buffer.concat([buffer, chunk]);
            let end;
            while ((end = buffer.indexOf(0)) >= 0) {
                this.dispatch(JSON.parse(buffer.subarray(0, end).toString('utf8')));
                buffer = buffer.subarray(end + 1);
            }
        });
    }

    dispatch(msg) {
        if (msg.id && this.pending.has(msg.id)) {
            const { resolve, reject } = this.pending.get(msg.id);
            this.pending.delete(msg.id);
            if (msg.error) reject(new Error(`${msg.error.message} (${msg.error.code})`));
            else resolve(msg.result);
        } else if (msg.method) {
            for (const fn of this.listeners) fn(msg);
        }
    }

    send(method, params = {}, sessionId = undefined) {
        const id = this.nextId++;
        this.writer.write(JSON.stringify({ id, method, params, sessionId }) + '\0');
        return new Promise((resolve, reject) => this.pending.set(id, { resolve, reject }));
    }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
    const profile = mkdtempSync(join(tmpdir(), 'soulplayer-chromium-'));
    const child = spawn(process.env.CHROMIUM || 'chromium', [...FLAGS, `--user-data-dir=${profile}`, 'about:blank'],
        { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => { stderr += d; });
    const exited = new Promise((r) => child.on('exit', r));
    const cdp = new Cdp(child);
    const result = { requests: [], errors: [], transcript: '', state: null };
    try {
        const { targetInfos } = await cdp.send('Target.getTargets');
        const pageTarget = targetInfos.find((t) => t.type === 'page');
        const { sessionId } = await cdp.send('Target.attachToTarget', { targetId: pageTarget.targetId, flatten: true });
        const s = (method, params) => cdp.send(method, params, sessionId);
        cdp.listeners.push((msg) => {
            if (msg.sessionId !== sessionId) return;
            if (msg.method === 'Network.requestWillBeSent') result.requests.push(msg.params.request.url);
            if (msg.method === 'Runtime.exceptionThrown') {
                const d = msg.params.exceptionDetails;
                result.errors.push(`exception: ${d.exception?.description || d.text}`);
            }
            if (msg.method === 'Runtime.consoleAPICalled' && msg.params.type === 'error') {
                result.errors.push(`console: ${msg.params.args.map((a) => a.value ?? a.description).join(' ')}`);
            }
            if (msg.method === 'Log.entryAdded' && msg.params.entry.level === 'error') {
                result.errors.push(`log: ${msg.params.entry.text} ${msg.params.entry.url || ''}`);
            }
        });
        await s('Network.enable');
        await s('Runtime.enable');
        await s('Log.enable');
        await s('Page.enable');
        await s('Page.navigate', { url });
        const deadline = Date.now() + Number(opt.timeout) * 1000;
        const probe = `JSON.stringify({state: window.soulplayer ? window.soulplayer.state() : null,
                                       transcript: document.getElementById('screen')?.textContent ?? ''})`;
        for (;;) {
            const { result: r } = await s('Runtime.evaluate', { expression: probe, returnByValue: true });
            const seen = JSON.parse(r.value);
            Object.assign(result, seen);
            const st = seen.state;
            if (st && (st.halted || (st.waiting && st.saysTyped === st.says && st.inputs > st.says))) break;
            if (Date.now() > deadline) { result.errors.push(`timed out after ${opt.timeout} s`); break; }
            await sleep(150);
        }
        if (opt.screenshot) {
            const params = { format: 'png', captureBeyondViewport: false };
            if (opt.clip) {
                const [width, height] = opt.clip.split('x').map(Number);
                params.clip = { x: 0, y: 0, width, height, scale: 1 };
            }
            const { data } = await s('Page.captureScreenshot', params);
            writeFileSync(opt.screenshot, Buffer.from(data, 'base64'));
        }
        await cdp.send('Browser.close').catch(() => {});
    } catch (err) {
        result.errors.push(`driver: ${err.message}; chromium said: ${stderr.slice(-500)}`);
        child.kill();
    }
    await Promise.race([exited, sleep(5000)]);
    if (child.exitCode === null) child.kill('SIGKILL');
    rmSync(profile, { recursive: true, force: true });
    console.log(JSON.stringify(result));
}

main();
