// The talk page: a browser call to an agent over the web media line (bvrai/voice/web_serializer.py).
// Binary frames are PCM16 little-endian mono at 16 kHz both ways; text frames are JSON events.

const RATE = 16000;
const FRAME = 320; // 20 ms: the server's pipeline works in frames of this size
const LEAD_S = 0.06; // after a gap in the agent's audio, start this far ahead so later chunks line up
const TOKEN_KEY = "bvrai.token";
const WORKLET_URL = new URL(`mic-worklet.js${new URL(import.meta.url).search}`, import.meta.url);

const form = document.getElementById("talk");
const tokenInput = document.getElementById("token");
const button = document.getElementById("call");
const statusLine = document.getElementById("status");
const transcript = document.getElementById("transcript");
const latencyList = document.getElementById("latency");
const agentId = form.dataset.agentId;
// Signed in to the dashboard: the session cookie authenticates, through the page's own start URL.
const startUrl = form.dataset.startUrl;
const callLink = document.getElementById("call-link");

const ROLE_NAMES = { user: "You", assistant: "Agent", tool: "Tool" };
const CLOSE_REASONS = {
  4401: "The call was refused: its link expired or was already used.",
  4404: "The call was not found.",
};

if (tokenInput) {
  tokenInput.value = sessionStorage.getItem(TOKEN_KEY) ?? "";
  tokenInput.addEventListener("input", () => sessionStorage.setItem(TOKEN_KEY, tokenInput.value.trim()));
}

function setStatus(text, { error = false } = {}) {
  statusLine.textContent = text;
  statusLine.classList.toggle("error", error);
}

function setInCall(inCall) {
  button.textContent = inCall ? "Hang up" : "Start call";
  button.classList.toggle("hangup", inCall);
  if (tokenInput) tokenInput.disabled = inCall;
}

/** Plays the agent's audio gaplessly by scheduling one buffer source per chunk; clear() drops it all. */
class Player {
  constructor(ctx) {
    this.ctx = ctx;
    this.at = 0;
    this.sources = new Set();
  }

  play(bytes) {
    const view = new DataView(bytes);
    const n = bytes.byteLength >> 1;
    if (!n) return;
    // A buffer at 16 kHz plays correctly in a context at any rate: the browser resamples it.
    const buffer = this.ctx.createBuffer(1, n, RATE);
    const samples = buffer.getChannelData(0);
    for (let i = 0; i < n; i++) samples[i] = view.getInt16(i * 2, true) / 32768;
    const source = this.ctx.createBufferSource();
    source.buffer = buffer;
    source.connect(this.ctx.destination);
    this.at = Math.max(this.at, this.ctx.currentTime + LEAD_S);
    source.start(this.at);
    this.at += buffer.duration;
    this.sources.add(source);
    source.onended = () => this.sources.delete(source);
  }

  clear() {
    for (const source of this.sources) source.stop();
    this.sources.clear();
    this.at = 0;
  }

  /** Seconds of audio still queued. */
  remaining() {
    return Math.max(0, this.at - this.ctx.currentTime);
  }
}

async function openMicrophone() {
  // No echo cancellation or other processing: the server's VAD and STT get the voice as it is.
  const stream = await navigator.mediaDevices.getUserMedia({
    audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false },
  });
  let ctx = new AudioContext({ sampleRate: RATE });
  let source;
  try {
    source = ctx.createMediaStreamSource(stream);
  } catch {
    // Firefox cannot feed a mic into a context at another rate: run at its rate, the worklet resamples.
    await ctx.close();
    ctx = new AudioContext();
    source = ctx.createMediaStreamSource(stream);
  }
  await ctx.audioWorklet.addModule(WORKLET_URL);
  const mic = new AudioWorkletNode(ctx, "mic-frames", { processorOptions: { targetRate: RATE, frameSize: FRAME } });
  source.connect(mic);
  // Its output is silent; being connected keeps every browser pulling audio through it.
  mic.connect(ctx.destination);
  await ctx.resume();
  return { ctx, stream, mic };
}

async function startWebCall(token) {
  const response = startUrl
    ? await fetch(startUrl, { method: "POST", headers: { "X-CSRF-Token": form.dataset.csrf }, credentials: "same-origin" })
    : await fetch("/v1/web-calls", {
        method: "POST",
        headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
        body: JSON.stringify({ agent_id: agentId, variables: {} }),
      });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.detail || body.title || `The server answered ${response.status}.`);
  return body;
}

function toPcm16(frame) {
  const bytes = new ArrayBuffer(frame.length * 2);
  const view = new DataView(bytes);
  for (let i = 0; i < frame.length; i++) {
    const s = Math.max(-1, Math.min(1, frame[i]));
    view.setInt16(i * 2, s < 0 ? s * 0x8000 : s * 0x7fff, true);
  }
  return bytes;
}

function showTranscript({ role, text, interrupted }) {
  const item = document.createElement("li");
  item.className = role;
  item.dataset.role = role;
  const who = document.createElement("span");
  who.className = "role";
  who.textContent = `${ROLE_NAMES[role] ?? role}:`;
  item.append(who, document.createTextNode(text));
  if (interrupted) {
    const mark = document.createElement("span");
    mark.className = "interrupted";
    mark.textContent = " (interrupted)";
    item.append(mark);
  }
  transcript.append(item);
}

function showLatency(turn) {
  const parts = [
    ["transcript", turn.transcript_ms],
    ["LLM first token", turn.llm_first_token_ms],
    ["first audio", turn.tts_first_audio_ms],
  ].filter(([, ms]) => typeof ms === "number");
  const item = document.createElement("li");
  const total = typeof turn.bot_started_ms === "number" ? `${turn.bot_started_ms} ms voice to voice` : "answered";
  item.textContent = `${total} (${parts.map(([name, ms]) => `${name} ${ms} ms`).join(", ")})`;
  latencyList.append(item);
}

class Call {
  async start(token) {
    setStatus("Asking for the microphone…");
    Object.assign(this, await openMicrophone());
    this.player = new Player(this.ctx);
    setStatus("Starting the call…");
    const started = await startWebCall(token);
    this.callId = started.call?.id;
    this.ws = new WebSocket(`${started.websocket_url}?token=${encodeURIComponent(started.token)}`);
    this.ws.binaryType = "arraybuffer";
    this.mic.port.onmessage = ({ data }) => {
      if (this.ws.readyState === WebSocket.OPEN) this.ws.send(toPcm16(data));
    };
    this.ws.onopen = () => {
      this.opened = true;
      setStatus("In the call: speak any time.");
    };
    this.ws.onmessage = ({ data }) => this.receive(data);
    this.ws.onclose = ({ code }) => {
      const refused = CLOSE_REASONS[code] ?? (this.opened ? null : "Could not connect to the call.");
      this.finish(refused ?? "The call ended.", { error: Boolean(refused) });
    };
  }

  receive(data) {
    if (typeof data !== "string") {
      this.player.play(data);
      return;
    }
    const event = JSON.parse(data);
    if (event.type === "clear") this.player.clear();
    else if (event.type === "transcript") showTranscript(event);
    else if (event.type === "latency") showLatency(event);
  }

  hangUp() {
    if (this.ws?.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify({ type: "hangup" }));
      this.ws.close(1000);
    }
    this.player?.clear();
    this.finish("You hung up.");
  }

  finish(text, { error = false } = {}) {
    if (this.done) return;
    this.done = true;
    if (this.ws) this.ws.onclose = null;
    this.stream?.getTracks().forEach((track) => track.stop());
    // When the agent ends the call its goodbye may still be queued: let it play out first.
    const remaining = this.player?.remaining() ?? 0;
    setTimeout(() => this.ctx?.close(), remaining * 1000 + 100);
    setStatus(text, { error });
    setInCall(false);
    if (callLink && this.callId) {
      callLink.href = `/app/calls/${this.callId}`;
      callLink.hidden = false;
    }
    if (call === this) call = null;
  }
}

let call = null;

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (call) {
    call.hangUp();
    return;
  }
  const token = tokenInput ? tokenInput.value.trim() : "";
  if (tokenInput) sessionStorage.setItem(TOKEN_KEY, token);
  if (callLink) callLink.hidden = true;
  transcript.replaceChildren();
  latencyList.replaceChildren();
  call = new Call();
  setInCall(true);
  button.disabled = true;
  try {
    await call.start(token);
  } catch (error) {
    const message = error.name === "NotAllowedError" ? "Microphone access was refused." : error.message;
    call.finish(`Could not start the call: ${message}`, { error: true });
  } finally {
    button.disabled = false;
  }
});
