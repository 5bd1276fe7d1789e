// screen_editor.js - what the KERNAL's CHROUT does with the screen, for the
// host layer: PETSCII in, screen codes into screen RAM ($0400) and the text
// colour ($0286) into colour RAM, the cursor, 40-column rows joined into
// logical lines of up to 80 characters, scrolling, reverse video, colours,
// CLR/HOME, cursor keys, DEL, the charset switches ($0E/$8E via $D018) and the
// shift+C= lock ($08/$09 via $0291). Not emulated: quote and insert mode.
//
// The cursor lives where the KERNAL keeps it, so a program may read or set
// it: TBLX $D6 (row), PNTR $D3 (column in the logical line, 0-79), PNT
// $D1/$D2 (screen address of the logical line), LNMX $D5 (its length - 1),
// RVS $C7, QTSW $D4 (always 0).
//
// Beside the screen it keeps a transcript: every line the program ends with
// RETURN, as plain text in the charset the screen shows ("YOU> hello").

const COLS = 40, ROWS = 25;
const SCREEN = 0x0400, COLOR_RAM = 0x800;         // colour RAM: offset in c64.io
const TEXT_COLOR = 0x0286, MODE = 0x0291, VIC_MEMSETUP = 0x018;
const PNT = 0xd1, PNTR = 0xd3, QTSW = 0xd4, LNMX = 0xd5, TBLX = 0xd6, RVS = 0xc7;

const COLOR_CODES = {
    0x90: 0, 0x05: 1, 0x1c: 2, 0x9f: 3, 0x9c: 4, 0x1e: 5, 0x1f: 6, 0x9e: 7,
    0x81: 8, 0x95: 9, 0x96: 10, 0x97: 11, 0x98: 12, 0x99: 13, 0x9a: 14, 0x9b: 15,
};

// PETSCII -> screen code (the KERNAL's rule), null for control codes
export function screenCode(c) {
    if (c < 0x20 || (c >= 0x80 && c < 0xa0)) return null;
    if (c < 0x40) return c;
    if (c < 0x60) return c - 0x40;
    if (c < 0x80) return c - 0x20;
    if (c < 0xc0) return c - 0x40;
    if (c === 0xff) return 0x5e;
    return c - 0x80;
}

// PETSCII -> a character for the transcript, in the shown charset
export function petsciiText(c, lowercase) {
    if (c >= 0x41 && c <= 0x5a) return String.fromCharCode(lowercase ? c + 0x20 : c);
    if (c >= 0xc1 && c <= 0xda) return String.fromCharCode(c - 0x80);
    if (c >= 0x61 && c <= 0x7a) return String.fromCharCode(c - 0x20);
    if (c >= 0x20 && c < 0x41) return String.fromCharCode(c);
    if (c === 0x5b || c === 0x5d) return String.fromCharCode(c);
    if (c === 0xa0) return ' ';
    return '\u00b7';
}

export class ScreenEditor {
    constructor(c64) {
        this.c64 = c64;
        this.row = 0;
        this.col = 0;
        this.rvs = false;
        this.linked = new Uint8Array(ROWS);     // 1: the row continues the one above
        this.lines = [];                        // transcript: finished lines
        this.line = [];                         // the logical line being printed
        this.linePos = 0;
        this.onLine = null;                     // (text) when a line is finished
    }

    get lowercase() { return (this.c64.io[VIC_MEMSETUP] & 0x02) !== 0; }

    clear() {
        if (this.line.some((ch) => ch !== ' ')) this.endLine();   // it was on the screen
        const { ram, io } = this.c64;
        ram.fill(0x20, SCREEN, SCREEN + COLS * ROWS);
        io.fill(ram[TEXT_COLOR] & 0x0f, COLOR_RAM, COLOR_RAM + COLS * ROWS);
        this.linked.fill(0);
        this.row = this.col = 0;
        this.line = [];
        this.linePos = 0;
        this.store();
    }

    // the cursor from the KERNAL's zero page (a program may have moved it)
    load() {
        const ram = this.c64.ram;
        this.row = Math.min(ram[TBLX], ROWS - 1);
        this.col = ram[PNTR] % COLS;
        this.rvs = ram[RVS] !== 0;
    }

    // the cursor into the KERNAL's zero page
    store() {
        const ram = this.c64.ram;
        const start = this.lineStart(this.row);
        const pnt = SCREEN + start * COLS;
        ram[TBLX] = this.row;
        ram[PNTR] = (this.row - start) * COLS + this.col;
        ram[PNT] = pnt & 0xff;
        ram[PNT + 1] = pnt >> 8;
        ram[LNMX] = start + 1 < ROWS && this.linked[start + 1] ? 2 * COLS - 1 : COLS - 1;
        ram[RVS] = this.rvs ? 1 : 0;
        ram[QTSW] = 0;
    }

    // the first row of the logical line holding `row`
    lineStart(row) { while (row > 0 && this.linked[row]) row--; return row; }

    moveTo(row, col) {
        this.row = Math.min(row, ROWS - 1);
        this.col = Math.min(col, COLS - 1);
        this.line = [];
        this.linePos = 0;
        this.store();
    }

    scroll() {
        const { ram, io } = this.c64;
        ram.copyWithin(SCREEN, SCREEN + COLS, SCREEN + COLS * ROWS);
        ram.fill(0x20, SCREEN + COLS * (ROWS - 1), SCREEN + COLS * ROWS);
        io.copyWithin(COLOR_RAM, COLOR_RAM + COLS, COLOR_RAM + COLS * ROWS);
        io.fill(ram[TEXT_COLOR] & 0x0f, COLOR_RAM + COLS * (ROWS - 1), COLOR_RAM + COLS * ROWS);
        this.linked.copyWithin(0, 1);
        this.linked[ROWS - 1] = 0;
        this.row--;
    }

    // to the next row; `continues`: the new row joins the current logical line
    nextRow(continues) {
        this.row++;
        if (this.row >= ROWS) this.scroll();
        this.linked[this.row] = continues ? 1 : 0;
        this.col = 0;
    }

    put(code) {
        const { ram, io } = this.c64;
        const at = this.row * COLS + this.col;
        ram[SCREEN + at] = code;
        io[COLOR_RAM + at] = ram[TEXT_COLOR] & 0x0f;
    }

    endLine() {
        const text = this.line.join('').replace(/\s+$/, '');
        this.lines.push(text);
        if (this.onLine) this.onLine(text);
        this.line = [];
        this.linePos = 0;
    }

    chrout(c) {
        this.load();
        this.edit(c);
        this.store();
    }

    edit(c) {
        const code = screenCode(c);
        if (code !== null) { this.printable(c, code); return; }
        const { ram, io } = this.c64;
        switch (c) {
            case 0x0d: case 0x8d:                              // RETURN
                while (this.row + 1 < ROWS && this.linked[this.row + 1]) this.row++;
                this.endLine();
                this.rvs = false;
                this.nextRow(false);
                break;
            case 0x93:                                          // CLR
                this.clear();
                break;
            case 0x13:                                          // HOME
                this.moveTo(0, 0);
                break;
            case 0x0e: io[VIC_MEMSETUP] |= 0x02; break;          // lower/upper case set
            case 0x8e: io[VIC_MEMSETUP] &= ~0x02; break;         // upper case/graphics
            case 0x08: ram[MODE] |= 0x80; break;                 // lock shift+C=
            case 0x09: ram[MODE] &= 0x7f; break;
            case 0x12: this.rvs = true; break;
            case 0x92: this.rvs = false; break;
            case 0x9d:                                          // cursor left
                if (this.col > 0) this.col--;
                else if (this.row > 0) { this.row--; this.col = COLS - 1; }
                if (this.linePos > 0) this.linePos--;
                break;
            case 0x1d:                                          // cursor right
                if (++this.col >= COLS) this.nextRow(!this.linked[this.row]);
                this.linePos++;
                break;
            case 0x11:                                          // cursor down
                if (++this.row >= ROWS) this.scroll();
                break;
            case 0x91:                                          // cursor up
                if (this.row > 0) this.row--;
                break;
            case 0x14: this.del(); break;
            default:
                if (c in COLOR_CODES) ram[TEXT_COLOR] = COLOR_CODES[c];
        }
    }

    printable(c, code) {
        this.put(this.rvs ? code | 0x80 : code);
        while (this.line.length < this.linePos) this.line.push(' ');
        this.line[this.linePos++] = this.rvs && c === 0x20 ? ' ' : petsciiText(c, this.lowercase);
        if (++this.col >= COLS) this.nextRow(!this.linked[this.row]);   // 2 rows at most
    }

    // DEL: the character left of the cursor goes, the rest of the row moves left
    del() {
        if (this.col === 0) return;
        const { ram, io } = this.c64;
        const base = this.row * COLS;
        ram.copyWithin(SCREEN + base + this.col - 1, SCREEN + base + this.col, SCREEN + base + COLS);
        io.copyWithin(COLOR_RAM + base + this.col - 1, COLOR_RAM + base + this.col, COLOR_RAM + base + COLS);
        ram[SCREEN + base + COLS - 1] = 0x20;
        this.col--;
        if (this.linePos > 0) this.line.splice(--this.linePos, 1);
    }

    // host text (lowercase ASCII) through CHROUT, e.g. READY.
    print(text) {
        for (const ch of text) {
            const c = ch === '\r' ? 0x0d : ch.toUpperCase().charCodeAt(0);
            this.chrout(c);
        }
    }

    // the transcript: finished lines, then the current one (trailing spaces cut)
    transcript() {
        const cur = this.line.join('').replace(/\s+$/, '');
        return this.lines.filter((l) => l !== '').concat(cur ? [cur] : []).join('\n');
    }
}
