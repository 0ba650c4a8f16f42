// The microphone's samples, mono float32 at `rate` Hz (16000: what the bundles' audio extractors
// read), posted to the page in chunks of `chunk` samples. When the context runs at another rate,
// each output sample is the mean of the input samples it spans (a box filter against aliasing).
class PcmTap extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const o = options.processorOptions || {};
    this.rate = o.rate || sampleRate;
    this.step = sampleRate / this.rate; // input samples per output sample
    this.chunk = o.chunk || 1600;
    this.buf = new Float32Array(this.chunk);
    this.n = 0;
    this.acc = 0; this.cnt = 0; this.pos = 0;
  }
  push(v) {
    this.buf[this.n++] = v > 1 ? 1 : v < -1 ? -1 : v;
    if (this.n === this.chunk) {
      this.port.postMessage(this.buf.slice(0));
      this.n = 0;
    }
  }
  process(inputs) {
    const input = inputs[0];
    if (!input || !input.length) return true;
    const len = input[0].length;
    for (let i = 0; i < len; i++) {
      let v = 0;
      for (let c = 0; c < input.length; c++) v += input[c][i];
      v /= input.length;
      if (this.step === 1) { this.push(v); continue; }
      this.acc += v; this.cnt++; this.pos++;
      if (this.pos >= this.step) {
        this.push(this.acc / this.cnt);
        this.acc = 0; this.cnt = 0; this.pos -= this.step;
      }
    }
    return true;
  }
}
registerProcessor("pcm-tap", PcmTap);
