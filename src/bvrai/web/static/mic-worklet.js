// Runs on the audio thread: gathers the microphone's 128-sample render quanta into fixed frames at
// the line's rate (20 ms at 16 kHz) and posts each to the page, which converts and sends it.
// Chromium gives a 16 kHz AudioContext, so no resampling happens there; browsers that refuse to
// connect a mic to a context at another rate (Firefox) run at their own rate and are resampled here,
// linearly: speech survives it, and a call is no place for a heavier filter.

class MicFrames extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const { targetRate = 16000, frameSize = 320 } = options.processorOptions ?? {};
    this.step = sampleRate / targetRate; // input samples per output sample
    this.frameSize = frameSize;
    this.frame = new Float32Array(frameSize);
    this.filled = 0;
    this.pos = 0; // where the next output sample falls in the current block; -1..0 reaches the last block
    this.last = 0;
    this.quiet = new Float32Array(128);
  }

  process(inputs) {
    // No channel means the track is muted or ended: keep sending silence, as a real mic would,
    // so the server's voice activity detection still sees the caller stop talking.
    const block = inputs[0]?.[0] ?? this.quiet;
    if (this.step === 1) {
      for (let i = 0; i < block.length; i++) this.push(block[i]);
      return true;
    }
    const n = block.length;
    while (this.pos < n - 1) {
      const i = Math.floor(this.pos);
      const a = i < 0 ? this.last : block[i];
      this.push(a + (block[i + 1] - a) * (this.pos - i));
      this.pos += this.step;
    }
    this.pos -= n;
    this.last = block[n - 1];
    return true;
  }

  push(sample) {
    this.frame[this.filled++] = sample;
    if (this.filled === this.frameSize) {
      this.port.postMessage(this.frame, [this.frame.buffer]);
      this.frame = new Float32Array(this.frameSize);
      this.filled = 0;
    }
  }
}

registerProcessor("mic-frames", MicFrames);
