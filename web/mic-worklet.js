// The microphone's AudioWorklet (loaded with audioWorklet.addModule from the server's /web/): it runs at the
// AudioContext's own rate (Firefox refuses a microphone source in a 16 kHz context, and browsers capture at
// 44.1 or 48 kHz anyway), low-passes and resamples to the 16 kHz mono the server hears, and posts 40 ms
// pieces of int16 samples with their level to the page. A page importing this module gets Downsampler
// only; registering the processor happens inside an AudioWorkletGlobalScope.

export const MIC_RATE = 16_000;
export const PIECE_SAMPLES = 640; // 40 ms at 16 kHz: small enough for barge-in, few enough messages

/**
 * Resamples a stream of float blocks from `inRate` to `outRate`: a windowed-sinc low-pass (Blackman, cut
 * at 0.45 of the output rate, so nothing above the new Nyquist folds back into speech) then linear
 * interpolation at the fractional positions. State carries across blocks, so any block size works.
 */
export class Downsampler {
  constructor(inRate, outRate = MIC_RATE, taps = 47) {
    this.step = inRate / outRate;
    const fc = Math.min(0.5, (0.45 * outRate) / inRate); // cycles per input sample
    const m = taps - 1;
    const h = new Float32Array(taps);
    let sum = 0;
    for (let n = 0; n < taps; n++) {
      const x = n - m / 2;
      const sinc = x === 0 ? 2 * fc : Math.sin(2 * Math.PI * fc * x) / (Math.PI * x);
      const w = 0.42 - 0.5 * Math.cos((2 * Math.PI * n) / m) + 0.08 * Math.cos((4 * Math.PI * n) / m);
      h[n] = sinc * w;
      sum += h[n];
    }
    for (let n = 0; n < taps; n++) h[n] /= sum; // unit gain at DC
    this.h = inRate > outRate ? h : Float32Array.of(1); // no filter when not going down
    this.history = new Float32Array(this.h.length - 1);
    this.last = 0; // the previous block's last filtered sample
    this.pos = 1; // the next output's position, in filtered samples of this block (0 = the one before)
  }

  /** One block of input samples -> the output samples it completes (a new Float32Array). */
  process(block) {
    const h = this.h;
    const n = h.length;
    const xs = new Float32Array(this.history.length + block.length);
    xs.set(this.history);
    xs.set(block, this.history.length);
    this.history = xs.slice(xs.length - (n - 1));
    const y = new Float32Array(block.length + 1); // y[0]: the last block's final sample
    y[0] = this.last;
    for (let i = 0; i < block.length; i++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += h[k] * xs[i + k];
      y[i + 1] = s;
    }
    this.last = y[block.length];
    const out = [];
    while (this.pos <= block.length) {
      const i = Math.floor(this.pos);
      const f = this.pos - i;
      out.push(f === 0 ? y[i] : y[i] * (1 - f) + y[i + 1] * f);
      this.pos += this.step;
    }
    this.pos -= block.length;
    return Float32Array.from(out);
  }
}

/** Float samples in [-1, 1] -> int16 (clipped, rounded), as the server's `mic` messages carry them. */
export function toInt16(samples, out = new Int16Array(samples.length)) {
  for (let i = 0; i < samples.length; i++) {
    const s = Math.max(-1, Math.min(1, samples[i]));
    out[i] = Math.round(s * 32767);
  }
  return out;
}

if (typeof registerProcessor === "function") {
  // Inside the worklet: `sampleRate` is the context's rate (a global of AudioWorkletGlobalScope).
  class MicProcessor extends AudioWorkletProcessor {
    constructor() {
      super();
      this.down = new Downsampler(sampleRate);
      this.piece = new Float32Array(PIECE_SAMPLES);
      this.filled = 0;
      this.open = true;
      this.port.onmessage = (e) => {
        if (e.data === "close") this.open = false;
      };
    }

    process(inputs) {
      const channels = inputs[0];
      if (!channels?.length) return this.open; // no source yet (or it ended): keep waiting
      const mono = channels.length === 1 ? channels[0] : new Float32Array(channels[0].length);
      if (channels.length > 1) {
        for (const ch of channels) for (let i = 0; i < ch.length; i++) mono[i] += ch[i] / channels.length;
      }
      for (const s of this.down.process(mono)) {
        this.piece[this.filled++] = s;
        if (this.filled === PIECE_SAMPLES) this.flush();
      }
      return this.open;
    }

    flush() {
      let energy = 0;
      for (const s of this.piece) energy += s * s;
      const pcm = toInt16(this.piece);
      this.port.postMessage({ pcm, rms: Math.sqrt(energy / PIECE_SAMPLES) }, [pcm.buffer]);
      this.filled = 0;
    }
  }
  registerProcessor("mien-mic", MicProcessor);
}
