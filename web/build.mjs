// build.mjs - write the web page folder (make web):
//
//   node web/build.mjs --prg build/soulplayer.prg --lbl build/soulplayer.lbl \
//        --chargen /usr/share/open-roms/C64/chargen --stop-ids 1,3 --out build/web
//
// --stop-ids: the ids that end a reply (soulplayer.chat.STOP_TOKENS; the
// Makefile asks Python), for the page's reply figures.
//
// out/: index.html, style.css, soulplayer.js (web/src bundled by esbuild),
// program.js (the PRG, its labels from the ld65 label file and the character
// ROM, base64, so the page also opens from file://), soulplayer.prg (the same
// bytes as on the floppy) and NOTICE.txt (licences of what is bundled).
// Everything the page loads is in out/; nothing comes from elsewhere.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseLabels } from './src/c64.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const CHARGEN_SIZE = 4096;

function fail(message) {
    console.error(`web: error: ${message}`);
    process.exit(1);
}

function args(argv) {
    const out = {};
    for (let i = 0; i < argv.length; i += 2) {
        if (!argv[i].startsWith('--') || argv[i + 1] === undefined) fail(`bad argument ${argv[i]}`);
        out[argv[i].slice(2)] = argv[i + 1];
    }
    for (const k of ['prg', 'lbl', 'chargen', 'stop-ids', 'out']) if (!out[k]) fail(`--${k} is missing`);
    return out;
}

function readInput(path, what) {
    if (!existsSync(path)) fail(`${path}: no ${what} (run make disk first)`);
    return readFileSync(path);
}

const opt = args(process.argv.slice(2));
const prg = readInput(opt.prg, 'program');
const labels = parseLabels(readInput(opt.lbl, 'label file').toString('utf8'));
const chargen = readInput(opt.chargen, 'character ROM');
if (chargen.length !== CHARGEN_SIZE) fail(`${opt.chargen}: ${chargen.length} bytes, a character ROM has ${CHARGEN_SIZE}`);
for (const name of ['main', 'soul_input', 'soul_token']) {
    if (!(name in labels)) fail(`${opt.lbl}: no label ${name}`);
}

const stopIds = opt['stop-ids'].split(',').map(Number);
if (stopIds.some((i) => !Number.isInteger(i) || i < 0 || i > 255)) fail(`--stop-ids ${opt['stop-ids']}: ids 0..255, comma-separated`);

const out = resolve(opt.out);
mkdirSync(out, { recursive: true });
const result = await build({
    entryPoints: [join(HERE, 'src', 'main.js')],
    bundle: true,
    format: 'iife',
    target: 'es2020',
    minify: true,
    sourcemap: false,
    metafile: true,
    legalComments: 'none',
    outfile: join(out, 'soulplayer.js'),
    logLevel: 'warning',
});
copyFileSync(join(HERE, 'index.html'), join(out, 'index.html'));
copyFileSync(join(HERE, 'style.css'), join(out, 'style.css'));
copyFileSync(opt.prg, join(out, 'soulplayer.prg'));
const program = { prg: prg.toString('base64'), labels, chargen: chargen.toString('base64'), stopIds };
writeFileSync(join(out, 'program.js'),
    `// the floppy's program for the page (written by make web)\nwindow.SOULPLAYER_PROGRAM = ${JSON.stringify(program)};\n`);
writeFileSync(join(out, 'NOTICE.txt'), notice(result.metafile));
console.log(`web: ${out}/index.html (program ${prg.length} bytes, ${Object.keys(labels).length} labels)`);

// the licence of every npm package in the bundle, and the character ROM's
function notice(metafile) {
    const packages = new Set();
    for (const input of Object.keys(metafile.inputs)) {
        const m = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input);
        if (m) packages.add(m[1]);
    }
    const parts = [
        'soulplayer web page. soulplayer is GPL-3.0-or-later.',
        '',
        'Character set: the Open ROMs character ROM (chargen), LGPL-3.0-or-later,',
        'https://github.com/MEGA65/open-roms (Debian package open-roms).',
    ];
    for (const name of [...packages].sort()) {
        const dir = join(HERE, 'node_modules', name);
        const meta = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
        const licence = ['LICENSE', 'LICENSE.md', 'LICENSE.txt', 'license'].map((f) => join(dir, f)).find(existsSync);
        parts.push('', `--- ${name} ${meta.version} (${meta.license})`, '');
        parts.push(licence ? readFileSync(licence, 'utf8').trim() : `licence: ${meta.license}`);
    }
    return parts.join('\n') + '\n';
}
