// host.test.mjs - the host layer without the soul's program (node --test):
// banking, the CHROUT screen editor, GETIN and the IRQ path, each driven by a
// few bytes of 6502 code placed in RAM.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { C64, TRAP, parseLabels } from '../src/c64.js';
import { screenCode } from '../src/screen_editor.js';

const CODE = 0x0c00;
const row = (c64, r) => Array.from(c64.ram.subarray(0x400 + r * 40, 0x400 + r * 40 + 40));

// a machine whose `main` is `bytes` at CODE (a PRG loaded at CODE)
function machine(bytes) {
    const prg = new Uint8Array([CODE & 0xff, CODE >> 8, ...bytes]);
    return new C64({ prg, labels: { main: CODE } });
}

// the host calls CHROUT for each PETSCII byte, as the program would
function chrout(c64, bytes) {
    for (const b of bytes) c64.screen.chrout(b);
}

test('parseLabels reads ld65 -Ln lines, first name wins', () => {
    const l = parseLabels('al 00080D .main\nal C:1EB1 .soul_input\nal 000900 .main\n');
    assert.deepEqual(l, { main: 0x080d, soul_input: 0x1eb1 });
});

test('$01 banks BASIC, KERNAL and I/O in and out; writes land in RAM below ROM', () => {
    const c64 = machine([]);
    c64.write(0xe000, 0x42);
    c64.write(0xa000, 0x43);
    assert.equal(c64.read(0xfffe) | (c64.read(0xffff) << 8), TRAP.IRQ_ENTRY);  // $37: host ROM
    assert.equal(c64.read(0xe000), 0);
    c64.write(0xd020, 5);
    assert.equal(c64.io[0x20], 5);
    c64.write(0x01, 0x36);                       // BASIC out
    assert.equal(c64.read(0xa000), 0x43);
    assert.equal(c64.read(0xe000), 0);
    c64.write(0x01, 0x35);                       // KERNAL out, I/O in
    assert.equal(c64.read(0xe000), 0x42);
    assert.equal(c64.read(0xd020) & 0x0f, 5);
    c64.write(0x01, 0x34);                       // all RAM
    c64.write(0xd020, 7);
    assert.equal(c64.ram[0xd020], 7);
    assert.equal(c64.io[0x20], 5);
    c64.write(0x01, 0x33);                       // character ROM at $D000, RAM below
    c64.chargen[8] = 0x3c;
    c64.write(0xd008, 0x99);
    assert.equal(c64.read(0xd008), 0x3c);
    assert.equal(c64.ram[0xd008], 0x99);
});

test('PETSCII to screen codes', () => {
    assert.deepEqual([0x20, 0x41, 0x5a, 0x61, 0xc1, 0xa0, 0xff].map(screenCode), [0x20, 1, 0x1a, 0x41, 0x41, 0x60, 0x5e]);
    assert.equal(screenCode(0x0d), null);
});

test('CHROUT: colours, reverse, wrap into a logical line, RETURN past it, transcript', () => {
    const c64 = machine([]);
    chrout(c64, [0x93, 0x0e, 0x9e, 0x59, 0x4f, 0x55, 0x3e, 0x20]);  // CLR, lower case, yellow, "you> "
    assert.deepEqual(row(c64, 0).slice(0, 5), [0x19, 0x0f, 0x15, 0x3e, 0x20]);
    assert.equal(c64.io[0x800] & 0x0f, 7);
    assert.equal(c64.ram[0xd3], 5);              // PNTR: the KERNAL's cursor column
    chrout(c64, Array(40).fill(0x41));           // 40 more: wraps into row 1
    assert.equal(c64.screen.row, 1);
    assert.equal(c64.screen.col, 5);
    assert.deepEqual([c64.ram[0xd6], c64.ram[0xd3], c64.ram[0xd5]], [1, 45, 79]);   // TBLX, PNTR, LNMX
    chrout(c64, [0x12, 0x20, 0x92, 0x9d]);       // the program's cursor: RVS space, left
    assert.equal(c64.ram[0x400 + 45], 0xa0);
    chrout(c64, [0x0d]);                         // RETURN: below the logical line
    assert.equal(c64.screen.row, 2);
    assert.equal(c64.screen.col, 0);
    assert.equal(c64.screen.transcript(), 'you> ' + 'a'.repeat(40));
    c64.ram[0xd6] = 10;                          // a program moves the cursor itself
    c64.ram[0xd3] = 4;
    chrout(c64, [0x41]);
    assert.equal(c64.ram[0x400 + 10 * 40 + 4], 0x01);
});

test('CHROUT: DEL and cursor left edit the line; scrolling keeps the last rows', () => {
    const c64 = machine([]);
    chrout(c64, [0x93, 0x41, 0x42, 0x43, 0x14, 0x44]);   // "abc", DEL, "d"
    assert.equal(c64.screen.transcript(), 'ABD');
    chrout(c64, [0x0d]);
    for (let i = 0; i < 30; i++) chrout(c64, [0x30 + (i % 10), 0x0d]);
    assert.equal(c64.screen.row, 24);
    assert.equal(row(c64, 23)[0], 0x30 + (29 % 10));
});

test('GETIN takes keys from the buffer the IRQ fills; the IRQ goes through CINV', () => {
    // main: CLI; loop: JSR GETIN; BEQ loop; STA $C000; hook: INC $C001; JMP $EA31
    const hook = CODE + 12;
    const c64 = machine([
        0x58, 0x20, 0xe4, 0xff, 0xf0, 0xfb, 0x8d, 0x00, 0xc0, 0x4c, 0x09, 0x0c,
        0xee, 0x01, 0xc0, 0x4c, 0x31, 0xea]);
    c64.ram[0x0314] = hook & 0xff;
    c64.ram[0x0315] = hook >> 8;
    c64.type([0x48]);
    c64.run(40000);
    assert.equal(c64.ram[0xc000], 0x48);         // the key, through the buffer
    assert.ok(c64.ram[0xc001] >= 2);             // the program's IRQ hook ran each jiffy
    assert.equal(c64.halted, null);
});

test('a call into ROM the host lacks stops the machine with its address', () => {
    const c64 = machine([0x20, 0xcf, 0xff]);     // JSR CHRIN: not provided
    c64.run(1000);
    assert.match(c64.halted, /\$FFCF/);
});

test('PLOT reads (carry set) and sets (carry clear) the cursor', () => {
    // SEC; JSR PLOT; STX $C000; STY $C001; CLC; LDX #5; LDY #7; JSR PLOT; JMP *
    const c64 = machine([
        0x38, 0x20, 0xf0, 0xff, 0x8e, 0x00, 0xc0, 0x8c, 0x01, 0xc0,
        0x18, 0xa2, 0x05, 0xa0, 0x07, 0x20, 0xf0, 0xff, 0x4c, 0x12, 0x0c]);
    chrout(c64, [0x0d, 0x0d, 0x41, 0x41, 0x41]);   // cursor at row 2, column 3
    c64.run(200);
    assert.deepEqual([c64.ram[0xc000], c64.ram[0xc001]], [2, 3]);
    assert.deepEqual([c64.screen.row, c64.screen.col], [5, 7]);
});
