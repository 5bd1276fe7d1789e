// engine_logits.mjs - the page's machine (web/src/c64.js) in Node: load the
// built program, run it from main until it waits for a line (soul_input),
// then drive its engine as a host call: engine_reset, engine_step per id,
// and print the logits (signed int16 from logits_lo/logits_hi) as JSON.
//
//   node web/test/engine_logits.mjs PRG LBL VOCAB_SIZE IDS [IDS ...]
//   IDS: comma-separated token ids, e.g. 1,49,16
//   stdout: {"logits": [per sequence: [per id: VS ints]],
//            "cycles": [per sequence: [CPU cycles of each engine_step]]}
import { readFileSync } from 'node:fs';
import { C64, parseLabels } from '../src/c64.js';

const [prgPath, lblPath, vsText, ...seqs] = process.argv.slice(2);
const vocab = Number(vsText);
const c64 = new C64({ prg: new Uint8Array(readFileSync(prgPath)), labels: parseLabels(readFileSync(lblPath, 'utf8')) });
let waiting = false;
c64.onLabel('soul_input', () => { waiting = true; return true; });
while (!waiting && !c64.halted) c64.run(c64.cycles + 1_000_000);
if (!waiting) { console.error(`engine_logits: the program stopped before soul_input: ${c64.halted}`); process.exit(1); }

const lo = c64.label('logits_lo'), hi = c64.label('logits_hi');
const out = { logits: [], cycles: [] };
for (const seq of seqs) {
    const ids = seq.split(',').map(Number);
    c64.call(c64.label('engine_reset'));
    const perStep = [], logits = [];
    for (const id of ids) {
        const before = c64.cycles;
        c64.call(c64.label('engine_step'), { a: id });
        perStep.push(c64.cycles - before);
        const row = [];
        for (let i = 0; i < vocab; i++) {
            const v = c64.ram[lo + i] | (c64.ram[hi + i] << 8);
            row.push(v >= 0x8000 ? v - 0x10000 : v);
        }
        logits.push(row);
    }
    out.logits.push(logits);
    out.cycles.push(perStep);
}
console.log(JSON.stringify(out));
