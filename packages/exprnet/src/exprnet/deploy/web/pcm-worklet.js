// The microphone's samples, mono float32, posted to the page in chunks of `chunk` samples.
class PcmTap extends AudioWorkletProcessor {
  constructor(options) {
    super();
    this.chunk = (options.processorOptions && options.processorOptions.chunk) || 4096;
    this.buf = new Float32Array(this.chunk);
    this.n = 0;
  }
  process(inputs) {
    const input = inputs[0];
    if (input && input.length) {
      const ch = input[0];
      for (let i = 0; i < ch.length; i++) {
        let v = 0;
        for (let c = 0; c < input.length; c++) v += input[c][i];
        v /= input.length;
        this.buf[this.n++] = v > 1 ? 1 : v < -1 ? -1 : v;
        if (this.n === this.chunk) {
          this.port.postMessage(this.buf.slice(0));
          this.n = 0;
        }
      }
    }
    return true;
  }
}
registerProcessor("pcm-tap", PcmTap);
