// sid.js - the optional blip: SID voice 1 as the program sets it (frequency,
// waveform, attack/decay/sustain, volume), played with Web Audio when the gate
// bit goes on. Only voice 1's registers are followed; no filters.
import { PAL_HZ } from './c64.js';

const ATTACK_S = [0.002, 0.008, 0.016, 0.024, 0.038, 0.056, 0.068, 0.08,
    0.1, 0.25, 0.5, 0.8, 1, 3, 5, 8];
const DECAY_S = [0.006, 0.024, 0.048, 0.072, 0.114, 0.168, 0.204, 0.24,
    0.3, 0.75, 1.5, 2.4, 3, 9, 15, 24];
const WAVES = [[0x10, 'triangle'], [0x20, 'sawtooth'], [0x40, 'square']];
const GATE = 0x01, CTRL = 0x04, VOLUME = 0x18, MAX_GAIN = 0.25;

export class Blip {
    constructor() {
        this.regs = new Uint8Array(0x20);
        this.audio = null;
        this.enabled = false;
    }

    enable(on) {
        this.enabled = on;
        if (on && !this.audio && typeof AudioContext !== 'undefined') this.audio = new AudioContext();
        if (this.audio) (on ? this.audio.resume() : this.audio.suspend());
    }

    write(reg, value) {
        const was = this.regs[reg];
        this.regs[reg] = value;
        if (reg === CTRL && (value & GATE) && !(was & GATE) && this.enabled && this.audio) this.play();
    }

    play() {
        const r = this.regs, ac = this.audio, t = ac.currentTime;
        const wave = WAVES.find(([bit]) => r[CTRL] & bit);
        if (!wave) return;
        const hz = (r[0] | (r[1] << 8)) * PAL_HZ / 16777216;
        const peak = MAX_GAIN * (r[VOLUME] & 15) / 15;
        const attack = ATTACK_S[r[5] >> 4], decay = DECAY_S[r[5] & 15];
        const sustain = peak * (r[6] >> 4) / 15;
        const osc = ac.createOscillator(), gain = ac.createGain();
        osc.type = wave[1];
        osc.frequency.value = hz;
        gain.gain.setValueAtTime(0, t);
        gain.gain.linearRampToValueAtTime(peak, t + attack);
        gain.gain.linearRampToValueAtTime(sustain, t + attack + decay);
        gain.gain.linearRampToValueAtTime(0, t + attack + decay + 0.05);
        osc.connect(gain).connect(ac.destination);
        osc.start(t);
        osc.stop(t + attack + decay + 0.1);
    }
}
