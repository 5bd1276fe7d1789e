// main.js - the page: runs the C64 (c64.js) in time slices, draws its screen
// from screen/colour RAM with the character ROM, maps the keyboard as a C64's,
// types ?say= lines, shows the cycles per token, paces at 985,248 Hz on
// request and plays the SID blip with Web Audio.
import { C64, PAL_HZ, CPU_SHARE } from './c64.js';
import { Blip } from './sid.js';

const PALETTE = [   // VICE's "pepto-pal" colours
    0x000000, 0xffffff, 0x68372b, 0x70a4b2, 0x6f3d86, 0x588d43, 0x352879, 0xb8c76f,
    0x6f4f25, 0x433900, 0x9a6759, 0x444444, 0x6c6c6c, 0x9ad284, 0x6c5eb5, 0x959595,
];
const WIDTH = 384, HEIGHT = 272, LEFT = 32, TOP = 36;   // 320 x 200 inside the border
const SLICE_MS = 12;                                    // run this long, then yield
const RENDER_MS = 30;
const CATCH_UP_LIMIT = 0.25;                            // paced: seconds it may fall behind

const KEYS = {                                          // browser key -> PETSCII
    Enter: 0x0d, Backspace: 0x14, Delete: 0x14, Home: 0x13, Escape: 0x03,
    ArrowLeft: 0x9d, ArrowRight: 0x1d, ArrowUp: 0x91, ArrowDown: 0x11,
    F1: 0x85, F3: 0x86, F5: 0x87, F7: 0x88, F2: 0x89, F4: 0x8a, F6: 0x8b, F8: 0x8c,
};

function base64Bytes(text) {
    const bin = atob(text);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
}

// a typed character -> the PETSCII a C64 key gives (letters unshifted =
// $41-$5A, shifted = $C1-$DA), or null for characters a C64 has no key for
export function petsciiKey(ch) {
    const c = ch.charCodeAt(0);
    if (ch.length !== 1) return null;
    if (c >= 0x61 && c <= 0x7a) return c - 0x20;
    if (c >= 0x41 && c <= 0x5a) return c + 0x80;
    if (c >= 0x20 && c <= 0x40) return c;
    if (ch === '[' || ch === ']') return c;
    return null;
}

function lineKeys(text) {
    const keys = [];
    for (const ch of text) { const k = petsciiKey(ch); if (k !== null) keys.push(k); }
    keys.push(0x0d);
    return keys;
}

const fmt = (n) => Math.round(n).toLocaleString('en-US');

class Page {
    constructor(program) {
        this.program = program;
        this.canvas = document.getElementById('display');
        this.ctx = this.canvas.getContext('2d');
        this.image = this.ctx.createImageData(WIDTH, HEIGHT);
        this.pixels = new Uint32Array(this.image.data.buffer);
        this.palette = PALETTE.map((rgb) => 0xff000000 | ((rgb & 0xff) << 16) | (rgb & 0xff00) | (rgb >> 16));
        const params = new URLSearchParams(location.search);
        this.say = params.getAll('say');
        if (params.get('paced') === '1') document.getElementById('paced').checked = true;
        this.saysTyped = 0;
        this.blip = new Blip();
        this.el = (id) => document.getElementById(id);
        this.boot();
        this.bindInput();
        this.tick = this.tick.bind(this);
        this.channel = new MessageChannel();
        this.channel.port1.onmessage = this.tick;
        this.lastRender = 0;
        this.bootTime = performance.now();
        this.resetPacing();
        this.tick();
    }

    boot() {
        const c64 = new C64(this.program, this.program.chargen);
        this.c64 = c64;
        this.waiting = false;
        this.inputs = 0;
        this.stats = { replyStart: null, lastMark: null, tokens: 0, lastToken: null, replyCycles: null,
                       ended: false };
        c64.sidListener = (reg, v) => this.blip.write(reg, v);
        c64.onLabel('soul_input', () => this.onInput());
        c64.onLabel('soul_token', () => this.onToken());
        if ('engine_reset' in this.program.labels) c64.onLabel('engine_reset', () => this.onReplyStart());
        c64.screen.onLine = () => this.showTranscript();
    }

    onInput() {
        this.waiting = true;
        this.inputs++;
        if (this.saysTyped < this.say.length) this.c64.type(lineKeys(this.say[this.saysTyped++]));
        this.showTranscript();
    }

    onReplyStart() {
        this.waiting = false;
        Object.assign(this.stats, { replyStart: this.c64.cycles, lastMark: this.c64.cycles, tokens: 0,
                                    ended: false });
    }

    onToken() {
        const s = this.stats, now = this.c64.cycles;
        if (s.lastMark !== null) s.lastToken = now - s.lastMark;
        s.lastMark = now;
        s.ended = this.program.stopIds.includes(this.c64.cpu.state.a);   // soul_token: A = the id
        if (!s.ended) s.tokens++;
        if (s.replyStart !== null) s.replyCycles = now - s.replyStart;
        this.showStats();
    }

    showStats() {
        const s = this.stats, c64 = this.c64;
        if (s.lastToken !== null) {
            this.el('token-cycles').textContent = `${fmt(s.lastToken)} cycles`;
            this.el('token-seconds').textContent = `${c64.palSeconds(s.lastToken).toFixed(2)} s`;
        }
        if (s.replyCycles !== null) {
            this.el('reply-stats').textContent = `${s.tokens} tokens${s.ended ? ' + end' : ''}: `
                + `${c64.palSeconds(s.replyCycles).toFixed(1)} s`;
        }
    }

    showTranscript() { this.el('screen').textContent = this.c64.screen.transcript(); }

    bindInput() {
        this.canvas.addEventListener('keydown', (e) => {
            if (e.ctrlKey || e.altKey || e.metaKey) return;
            const k = KEYS[e.key] ?? petsciiKey(e.key);
            if (k === null || k === undefined) return;
            e.preventDefault();
            this.c64.type([k]);
        });
        this.canvas.addEventListener('click', () => this.canvas.focus());
        this.canvas.focus();
        this.el('line-form').addEventListener('submit', (e) => {
            e.preventDefault();
            const input = this.el('line-input');
            this.c64.type(lineKeys(input.value));
            input.value = '';
            this.canvas.focus();
        });
        this.el('paced').addEventListener('change', () => this.resetPacing());
        this.el('sound').addEventListener('change', (e) => this.blip.enable(e.target.checked));
    }

    resetPacing() {
        this.paceStart = performance.now();
        this.paceCycles = this.c64.cycles;
        this.speedStart = { time: performance.now(), cycles: this.c64.cycles };
    }

    tick() {
        const c64 = this.c64;
        const t0 = performance.now();
        if (this.el('paced').checked) {
            const due = this.paceCycles + (t0 - this.paceStart) / 1000 * PAL_HZ * CPU_SHARE;
            if (due - c64.cycles > CATCH_UP_LIMIT * PAL_HZ) this.resetPacing();
            else c64.run(due);
        } else {
            while (!c64.halted && performance.now() - t0 < SLICE_MS) c64.run(c64.cycles + 20000);
        }
        const now = performance.now();
        if (now - this.lastRender >= RENDER_MS) { this.render(); this.lastRender = now; }
        if (c64.halted) { this.render(); this.status(c64.halted === 'READY.' ? 'READY. (reload to start again)' : `stopped: ${c64.halted}`); return; }
        if (this.el('paced').checked) setTimeout(this.tick, 10);
        else this.channel.port2.postMessage(0);
    }

    status(text) { this.el('status').textContent = text; }

    render() {
        const c64 = this.c64, px = this.pixels, pal = this.palette;
        const border = pal[c64.io[0x020] & 15], bg = pal[c64.io[0x021] & 15];
        px.fill(border);
        const font = c64.chargen, base = (c64.io[0x018] & 0x02) ? 0x800 : 0;
        const screen = (c64.ram[0x0288] || 4) << 8;
        for (let row = 0; row < 25; row++) {
            for (let col = 0; col < 40; col++) {
                const code = c64.ram[screen + row * 40 + col];
                const fg = pal[c64.io[0x800 + row * 40 + col] & 15];
                let p = (TOP + row * 8) * WIDTH + LEFT + col * 8;
                for (let y = 0; y < 8; y++, p += WIDTH) {
                    const bits = font[base + code * 8 + y];
                    for (let x = 0; x < 8; x++) px[p + x] = (bits & (0x80 >> x)) ? fg : bg;
                }
            }
        }
        this.ctx.putImageData(this.image, 0, 0);
        const dt = (performance.now() - this.speedStart.time) / 1000;
        if (dt > 0.5) {
            const c64s = c64.palSeconds(c64.cycles - this.speedStart.cycles);
            this.el('speed').textContent = `${(c64s / dt).toFixed(1)}x a C64`;
            this.speedStart = { time: performance.now(), cycles: c64.cycles };
        }
        if (!c64.halted) this.status(this.waiting ? 'waiting for a line' : 'thinking');
    }

    // for scripts and tests: where the page stands
    state() {
        return {
            waiting: this.waiting, inputs: this.inputs, saysTyped: this.saysTyped,
            says: this.say.length, halted: this.c64.halted, cycles: this.c64.cycles,
            seconds: (performance.now() - this.bootTime) / 1000,
        };
    }
}

const P = window.SOULPLAYER_PROGRAM;
const page = new Page({ prg: base64Bytes(P.prg), labels: P.labels, chargen: base64Bytes(P.chargen),
                        stopIds: P.stopIds });
window.soulplayer = { page, state: () => page.state() };
