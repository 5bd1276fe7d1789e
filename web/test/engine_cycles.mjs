// engine_cycles.mjs - run a PRG on the page's machine from `main` until a
// label, with bytes poked first (as the VICE harness pokes them at main), and
// report the CPU cycle count at every execution of the profiled labels.
//
//   node web/test/engine_cycles.mjs PRG LBL DONE_LABEL POKES PROFILE
//   POKES: addr=hexbytes,... (addresses hex, e.g. dc0d=7f,0d00=0102ff)
//   PROFILE: label,label,...
//   stdout: {"events": [[label, cycles], ...], "done": true|false}
import { readFileSync } from 'node:fs';
import { C64, parseLabels } from '../src/c64.js';

const [prgPath, lblPath, done, pokes, profile] = process.argv.slice(2);
const c64 = new C64({ prg: new Uint8Array(readFileSync(prgPath)), labels: parseLabels(readFileSync(lblPath, 'utf8')) });
for (const item of pokes.split(',').filter(Boolean)) {
    const [addr, bytes] = item.split('=');
    const at = parseInt(addr, 16);
    bytes.match(/../g).forEach((b, i) => c64.write(at + i, parseInt(b, 16)));
}
const events = [];
for (const name of profile.split(',').filter(Boolean)) c64.onLabel(name, () => { events.push([name, c64.cycles]); });
let reached = false;
c64.onLabel(done, () => { reached = true; return true; });
while (!reached && !c64.halted) c64.run(c64.cycles + 10_000_000);
console.log(JSON.stringify({ events, done: reached, halted: c64.halted }));
