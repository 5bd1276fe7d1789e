// c64.js - the machine the page runs the floppy's program on: 64 KB of RAM
// with the C64's $01 banking, a 6502 core from npm (6502.ts, cycle by cycle),
// the VIC-II/SID registers the program writes, a 60 Hz CIA-style IRQ, and a
// small host layer in place of the KERNAL (there are no ROMs here).
//
// The host layer (docs in README "In a browser"):
// - $A000-$BFFF and $E000-$FFFF read as "host ROM" when $01 banks them in,
//   as RAM when it banks them out (writes always go to RAM, as on a C64).
//   $D000-$DFFF is I/O (or the character ROM) when banked in, else RAM.
// - The CPU reaching one of the addresses in TRAP while that ROM is banked in
//   runs the JavaScript routine instead (CHROUT, GETIN, PLOT, the IRQ entry,
//   the KERNAL's IRQ handler, BASIC's READY.); any other address in a
//   banked-in ROM stops the machine with an error naming it. A trap ends with
//   the RTS (or RTI) the routine would have made; its own work costs no cycles.
// - IRQ: a CIA timer every 16,421 cycles (the KERNAL's PAL setting, 60 Hz)
//   asserts IRQ while enabled in CIA 1's mask ($DC0D; reading $DC0D
//   acknowledges). The core takes it through $FFFE -> $FF48 (trap: push A,
//   X, Y, jump through CINV $0314, which the program may hook); $EA31 (CINV's
//   initial value) acknowledges it, counts the jiffy clock, moves one typed
//   key into the keyboard buffer and returns like $EA81 (pull Y, X, A; RTI).
// - Cycles: `cycles` counts the core's CPU cycles exactly. A PAL C64 with the
//   screen on loses 25 x 40 of every 312 x 63 cycles to VIC-II badlines; the
//   machine's clock (`palSeconds`, the IRQ timer, pacing) adds that share.

import cpuModule from '6502.ts/lib/machine/cpu/StateMachineCpu.js';
import { ScreenEditor } from './screen_editor.js';

const StateMachineCpu = cpuModule.default || cpuModule;    // CommonJS default export

export const PAL_HZ = 985248;
export const FRAME_CYCLES = 312 * 63;             // one PAL frame
export const BADLINE_CYCLES = 25 * 40;            // stolen per frame, screen on
export const CPU_SHARE = (FRAME_CYCLES - BADLINE_CYCLES) / FRAME_CYCLES;
export const IRQ_PERIOD = 16421;                  // CIA 1 timer A, KERNAL PAL value

const KEYBUF = 0x0277, KEYBUF_LEN = 0xc6, KEYBUF_MAX = 10;
const CINV = 0x0314, JIFFY = 0xa0, TEXT_COLOR = 0x0286;
const BASIC_START = 0xa000, IO_START = 0xd000, KERNAL_START = 0xe000;
const CIA1_ICR = 0xc0d;                           // $DC0D, offset in the I/O area

export const TRAP = {
    CHROUT: 0xffd2, GETIN: 0xffe4, PLOT: 0xfff0,
    IRQ_ENTRY: 0xff48, IRQ_KERNAL: 0xea31, IRQ_RETURN: 0xea81,
    READY: 0xa474,                                 // BASIC's READY. (where main returns)
};
const HOST_RETURN = 0xfff6;                       // call(): the host's return address

export class HaltError extends Error {}

export class C64 {
    // program: {prg: Uint8Array, labels: {name: addr}}; chargen: Uint8Array(4096) or null
    constructor(program, chargen = null) {
        this.labels = program.labels;
        this.prg = program.prg;
        this.chargen = chargen || new Uint8Array(4096);
        this.ram = new Uint8Array(0x10000);
        this.io = new Uint8Array(0x1000);          // VIC, SID, colour RAM, CIAs
        this.basicRom = new Uint8Array(0x2000);   // no BASIC: zeros (host traps only)
        this.kernalRom = new Uint8Array(0x2000);
        this.setWord(this.kernalRom, 0xfffa - KERNAL_START, 0xfe43);
        this.setWord(this.kernalRom, 0xfffc - KERNAL_START, 0xfce2);
        this.setWord(this.kernalRom, 0xfffe - KERNAL_START, TRAP.IRQ_ENTRY);
        this.cycles = 0;                          // CPU cycles so far
        this.nextIrq = IRQ_PERIOD * CPU_SHARE;
        this.irqLine = false;
        this.irqMask = 0x01;                      // CIA 1 timer A enabled, as the KERNAL leaves it
        this.halted = null;                       // a reason once stopped
        this.callReturn = -1;                     // call(): HOST_RETURN while a call runs
        this.callStack = 0;
        this.callDone = false;
        this.stopRequested = false;
        this.keyQueue = [];                       // typed keys (PETSCII) not yet in the buffer
        this.hooks = new Map();                   // address -> [fn(c64)], after the opcode fetch
        this.hookAt = new Uint8Array(0x10000);
        this.sidListener = null;                  // (reg, value) on each SID write
        this.screen = new ScreenEditor(this);
        this.traps = {
            [TRAP.CHROUT]: () => { this.screen.chrout(this.cpu.state.a); this.rts(); },
            [TRAP.GETIN]: () => this.getin(),
            [TRAP.PLOT]: () => this.plot(),
            [TRAP.IRQ_ENTRY]: () => this.irqEntry(),
            [TRAP.IRQ_KERNAL]: () => this.irqKernal(),
            [TRAP.IRQ_RETURN]: () => this.irqReturn(),
            [TRAP.READY]: () => this.ready(),
        };
        const bus = {
            read: (a) => this.read(a),
            peek: (a) => this.read(a),
            readWord: (a) => this.read(a) | (this.read((a + 1) & 0xffff) << 8),
            write: (a, v) => this.write(a, v),
            poke: (a, v) => this.write(a, v),
        };
        this.cpu = new StateMachineCpu(bus);
        this.cpu.setInvalidInstructionCallback(() =>
            this.halt(`invalid opcode at $${hex4(this.cpu.getLastInstructionPointer())}`));
        this.powerOn();
    }

    setWord(mem, at, value) { mem[at] = value & 0xff; mem[at + 1] = value >> 8; }

    // power on + the KERNAL's and BASIC's start-up state the program relies on,
    // then load the PRG and enter `main` as SYS does (returning to READY.).
    powerOn() {
        const ram = this.ram;
        ram[0] = 0x2f;
        ram[1] = 0x37;
        this.updateBanks();
        this.setWord(ram, CINV, TRAP.IRQ_KERNAL);
        ram[0x0288] = 0x04;                            // screen at $0400
        ram[TEXT_COLOR] = 14;
        ram[0x0289] = KEYBUF_MAX;
        this.io[0x020] = 14;                           // border light blue
        this.io[0x021] = 6;                            // background blue
        this.io[0x011] = 0x1b;
        this.io[0x016] = 0xc8;
        this.io[0x018] = 0x15;                         // upper case + graphics
        this.screen.clear();
        const load = this.prg[0] | (this.prg[1] << 8);     // LOAD writes as the CPU does
        this.prg.subarray(2).forEach((b, i) => this.write((load + i) & 0xffff, b));
        const cpu = this.cpu;
        const st = cpu.state;
        st.s = 0xf6;
        this.push((TRAP.READY - 1) >> 8);
        this.push((TRAP.READY - 1) & 0xff);
        st.p = this.label('main');
        st.a = st.x = st.y = 0;
        st.flags = 0x20;                               // I clear, as after SYS
        cpu.executionState = 1;                        // next cycle fetches at main
    }

    label(name) {
        const a = this.labels[name];
        if (a === undefined) throw new Error(`label ${name} not in the program's label file`);
        return a;
    }

    onLabel(name, fn) { this.onAddress(this.label(name), fn); }

    onAddress(addr, fn) {
        if (!this.hooks.has(addr)) this.hooks.set(addr, []);
        this.hooks.get(addr).push(fn);
        this.hookAt[addr] = 1;
    }

    // --- memory and banking -------------------------------------------------
    updateBanks() {
        const port = (this.ram[1] | ~this.ram[0]) & 7;  // inputs read high (pull-ups)
        const lo = port & 1, hi = port & 2, charen = port & 4;
        this.basicIn = !!(lo && hi);
        this.kernalIn = !!hi;
        this.ioIn = !!((lo || hi) && charen);
        this.charIn = !!((lo || hi) && !charen);
    }

    read(a) {
        if (a >= BASIC_START) {
            if (a < 0xc000) { if (this.basicIn) return this.basicRom[a - BASIC_START]; }
            else if (a >= KERNAL_START) { if (this.kernalIn) return this.kernalRom[a - KERNAL_START]; }
            else if (a >= IO_START) {
                if (this.ioIn) return this.ioRead(a);
                if (this.charIn) return this.chargen[a & 0x0fff];
            }
        }
        return this.ram[a];
    }

    write(a, v) {
        if (a >= IO_START && a < KERNAL_START && this.ioIn) { this.ioWrite(a, v); return; }
        this.ram[a] = v;
        if (a < 2) this.updateBanks();
    }

    ioRead(a) {
        const r = a - IO_START;
        if (r >= 0x800 && r < 0xc00) return this.io[r] | 0xf0;   // colour RAM: 4 bits
        if (r < 0x400) return this.io[r & 0x3f];                  // VIC-II mirrors
        if (r === CIA1_ICR) {                                      // reading acknowledges
            const flags = this.irqLine ? 0x81 : 0;
            this.acknowledgeIrq();
            return flags;
        }
        return this.io[r];
    }

    acknowledgeIrq() {
        this.irqLine = false;
        this.cpu.setInterrupt(false);
    }

    ioWrite(a, v) {
        const r = a - IO_START;
        if (r < 0x400) { this.io[r & 0x3f] = v; return; }
        if (r < 0x800) {
            this.io[0x400 + (r & 0x1f)] = v;
            if (this.sidListener) this.sidListener(r & 0x1f, v);
            return;
        }
        if (r < 0xc00) { this.io[r] = v & 0x0f; return; }
        if (r === CIA1_ICR) {                                      // interrupt mask
            this.irqMask = v & 0x80 ? this.irqMask | (v & 0x1f) : this.irqMask & ~v;
            return;
        }
        this.io[r] = v;                                            // other CIA registers: kept
    }

    // --- stack and trap helpers ---------------------------------------------
    push(v) { const st = this.cpu.state; this.ram[0x100 + st.s] = v; st.s = (st.s - 1) & 0xff; }
    pull() { const st = this.cpu.state; st.s = (st.s + 1) & 0xff; return this.ram[0x100 + st.s]; }

    rts() {
        const lo = this.pull(), hi = this.pull();
        this.cpu.state.p = (((hi << 8) | lo) + 1) & 0xffff;
        this.cycles += 6;
    }

    rti() {
        const st = this.cpu.state;
        st.flags = (this.pull() & ~0x10) | 0x20;
        const lo = this.pull(), hi = this.pull();
        st.p = (hi << 8) | lo;
        this.cycles += 6;
    }

    setNZ(v) {
        const st = this.cpu.state;
        st.flags = (st.flags & ~0x82) | (v & 0x80) | (v === 0 ? 0x02 : 0);
    }

    // GETIN: A := next key from the buffer at $0277 (0 if none); carry clear
    getin() {
        const st = this.cpu.state;
        let key = 0;
        const n = this.ram[KEYBUF_LEN];
        if (n > 0) {
            key = this.ram[KEYBUF];
            this.ram.copyWithin(KEYBUF, KEYBUF + 1, KEYBUF + n);
            this.ram[KEYBUF_LEN] = n - 1;
        }
        st.a = key;
        this.setNZ(key);
        st.flags &= ~0x01;
        this.rts();
    }

    // PLOT: carry set reads the cursor into X (row), Y (column); clear sets it
    plot() {
        const st = this.cpu.state;
        if (st.flags & 0x01) { st.x = this.screen.row; st.y = this.screen.col; }
        else this.screen.moveTo(st.x, st.y);
        this.rts();
    }

    irqEntry() {                      // KERNAL $FF48: save A, X, Y; JMP (CINV)
        const st = this.cpu.state;
        const flags = this.ram[0x100 + ((st.s + 1) & 0xff)];
        if (flags & 0x10) { this.halt(`BRK at $${hex4(this.stackedPc() - 2)}`); return; }
        this.push(st.a); this.push(st.x); this.push(st.y);
        st.p = this.ram[CINV] | (this.ram[CINV + 1] << 8);
        this.cycles += 29;            // the 6502 code of $FF48 the trap stands for
    }

    stackedPc() {
        const s = this.cpu.state.s;
        return this.ram[0x100 + ((s + 2) & 0xff)] | (this.ram[0x100 + ((s + 3) & 0xff)] << 8);
    }

    irqKernal() {                     // KERNAL $EA31: clock, keyboard, acknowledge
        this.acknowledgeIrq();
        for (let i = JIFFY + 2; i >= JIFFY; i--) { this.ram[i] = (this.ram[i] + 1) & 0xff; if (this.ram[i]) break; }
        if (this.keyQueue.length && this.ram[KEYBUF_LEN] < KEYBUF_MAX) {
            this.ram[KEYBUF + this.ram[KEYBUF_LEN]] = this.keyQueue.shift();
            this.ram[KEYBUF_LEN]++;
        }
        this.irqReturn();
    }

    irqReturn() {                     // KERNAL $EA81: PLA TAY PLA TAX PLA RTI
        const st = this.cpu.state;
        st.y = this.pull(); st.x = this.pull(); st.a = this.pull();
        this.rti();
    }

    ready() {
        this.screen.print('\rready.\r');
        this.halt('READY.');
    }

    halt(reason) { if (!this.halted) this.halted = reason; }

    // --- keyboard -------------------------------------------------------------
    type(petsciiKeys) { for (const k of petsciiKeys) this.keyQueue.push(k); }

    // --- running ----------------------------------------------------------------
    romTrapAt(pc) {
        if (pc >= KERNAL_START) return this.kernalIn;
        return pc >= BASIC_START && pc < 0xc000 && this.basicIn;
    }

    // run until `cycles` reaches `until` (CPU cycles), a hook asks to stop
    // (returns true) or the machine halts, always stopping between two
    // instructions. Returns the cycles run.
    run(until) {
        const cpu = this.cpu, st = cpu.state, hookAt = this.hookAt;
        const start = this.cycles;
        this.stopRequested = false;
        for (;;) {
            if (this.cycles >= this.nextIrq) {
                this.nextIrq += IRQ_PERIOD * CPU_SHARE;
                if (this.irqMask & 1) {
                    this.irqLine = true;
                    cpu.setInterrupt(true);
                }
            }
            if (cpu.executionState !== 1) {              // inside an instruction
                cpu.cycle();
                this.cycles++;
                continue;
            }
            if (this.cycles >= until || this.halted || this.stopRequested) break;
            const pc = st.p;
            if (pc === this.callReturn && st.s === this.callStack) { this.callDone = true; break; }
            if (this.romTrapAt(pc)) {
                const trap = this.traps[pc];
                if (trap) trap();
                else this.halt(`the program called $${hex4(pc)} in ROM, which this host does not provide`);
                continue;
            }
            cpu.cycle();                                  // the opcode fetch (or IRQ entry)
            this.cycles++;
            if (hookAt[pc] && st.p !== pc) {              // an opcode was fetched there
                for (const fn of this.hooks.get(pc)) if (fn(this)) this.stopRequested = true;
            }
        }
        return this.cycles - start;
    }

    // call a subroutine from the host: JSR addr with A (and X, Y), run until its
    // RTS. Used by tests to drive engine_step in the loaded program.
    call(addr, { a = 0, x = 0, y = 0, limit = 50_000_000 } = {}) {
        const st = this.cpu.state;
        this.callStack = st.s;
        this.callReturn = HOST_RETURN;
        this.push((HOST_RETURN - 1) >> 8);
        this.push((HOST_RETURN - 1) & 0xff);
        st.a = a; st.x = x; st.y = y;
        st.p = addr;
        this.callDone = false;
        const until = this.cycles + limit;
        while (!this.callDone && !this.halted && this.cycles < until) this.run(until);
        this.callReturn = -1;
        if (this.halted) throw new HaltError(this.halted);
        if (!this.callDone) throw new HaltError(`$${hex4(addr)} did not return within ${limit} cycles`);
    }

    palSeconds(cpuCycles) { return cpuCycles / CPU_SHARE / PAL_HZ; }
}

export function hex4(v) { return v.toString(16).toUpperCase().padStart(4, '0'); }

// VICE label file (ld65 -Ln): "al 00080D .main" -> {main: 0x080d}; first wins
export function parseLabels(text) {
    const labels = {};
    for (const line of text.split('\n')) {
        const m = /^al\s+(?:C:)?([0-9A-Fa-f]+)\s+\.(\S+)/.exec(line.trim());
        if (m && !(m[2] in labels)) labels[m[2]] = parseInt(m[1], 16);
    }
    return labels;
}
