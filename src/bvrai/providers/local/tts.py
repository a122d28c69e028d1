"""The local text-to-speech service: hibari-tts (voice ``heart``, 24 kHz) as a pipecat service.

One ``Hibari`` model per voice is loaded per process (~0.5 s, in a worker thread when the first pipeline
starts) and shared by every call. Each sentence is synthesised in a worker thread (~12 ms for a short
one on one core), then cut into short ``TTSAudioRawFrame``s: the transport can start playing the first
frame at once, and on barge-in pipecat drops the frames not yet played instead of one long frame that
has already been handed over.

pipecat's TTS base aggregates the LLM's tokens into sentences before calling ``run_tts``, so audio starts
after the first sentence, not after the whole reply; a longer text (a first message, a ``TTSSpeakFrame``)
is synthesised sentence by sentence for the same reason.

Each sentence's words are reported with estimated start times (see ``estimate_word_starts``) through
pipecat's word-timestamp mechanism, so the output transport releases each word's ``TTSTextFrame`` when
its audio plays: after a barge-in the conversation context and the transcript hold the words the caller
heard, not only the sentences that had finished.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import AsyncGenerator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import structlog
from hibari import SAMPLE_RATE as HIBARI_SAMPLE_RATE
from hibari import Hibari
from hibari.tts import MAX_PHONEMES
from pipecat.frames.frames import ErrorFrame, Frame, StartFrame, TTSAudioRawFrame, TTSStartedFrame
from pipecat.processors.frame_processor import FrameDirection
from pipecat.services.settings import TTSSettings
from pipecat.services.tts_service import TTSService
from pipecat.utils.time import nanoseconds_to_seconds, seconds_to_nanoseconds
from pipecat.utils.types import NOT_GIVEN, NotGiven

from bvrai.providers.base import ProviderContext
from bvrai.providers.local.first_chunk import FirstChunkAggregator
from bvrai.providers.local.models import hibari_voice_file

log = structlog.get_logger(__name__)

MIN_SPEED, MAX_SPEED = 0.5, 2.0  # hibari's range, also the agent spec's

# Word timing (see estimate_word_starts).
CLAUSE_PAUSE = 8.0  # a mark that makes the voice pause (, ; : — and a stop inside a chunk), in phonemes
_PAUSE_MARKS = (",", ";", ":", "—", "\u2013", ".", "!", "?", "…")  # \u2013: en dash
_CLOSING = "\"'”\u2019)]"  # closing quotes and brackets after a mark
_STRESS = "ˈˌ"  # stress marks are phoneme ids but take no time of their own
_SPEECH_WINDOW_S = 0.01
_SPEECH_LEVEL = 0.1  # a window this loud relative to the chunk's loudest one is speech
_CLAUSE = re.compile(r"(?<=[,;:—])\s+")  # where hibari splits a sentence too long for the model


@dataclass
class _Voice:
    model: Hibari
    # hibari does not promise its text front end (tagger, lexicon caches) is thread-safe; a lock per voice
    # costs little because one sentence takes milliseconds, and calls interleave sentence by sentence.
    lock: threading.Lock = field(default_factory=threading.Lock)


_voices: dict[tuple[str, str], _Voice] = {}
_voices_lock = threading.Lock()
load_count = 0  # how many times a voice was actually read from disk; tests check it stays at one


def load_voice(voice: str, model_file: Path) -> _Voice:
    """The shared model for ``voice``, loading it on first use (blocking; call it in a thread)."""
    global load_count
    key = (voice, str(model_file))
    with _voices_lock:
        loaded = _voices.get(key)
        if loaded is None:
            started = time.monotonic()
            # Passing the file keeps hibari from looking the voice up itself, which may download it.
            model = Hibari(voice=voice, model=str(model_file))
            model("Ready.")  # builds the G2P (lexicons, tagger) now instead of during the first call's reply
            loaded = _Voice(model)
            _voices[key] = loaded
            load_count += 1
            log.info("local_tts_loaded", voice=voice, seconds=round(time.monotonic() - started, 2))
        return loaded


@dataclass
class HibariTTSSettings(TTSSettings):
    """Settings for ``LocalHibariTTSService``; ``speed`` is hibari's pace (1.0 = the voice's own)."""

    speed: float | NotGiven = field(default_factory=lambda: NOT_GIVEN)


class LocalHibariTTSService(TTSService):
    """Speaks text with a process-wide hibari voice, sentence by sentence, in short audio frames.

    Word timing. pipecat times a context's words from the moment its first audio frame leaves this
    service (or from the previous context's last word, if later) and the output transport releases each
    word's ``TTSTextFrame`` at that time plus the word's reported start; an interruption drops the words
    not yet released. Each word's start is reported as the audio already queued for its context before
    the word's chunk plus the word's estimated start inside the chunk. Two corrections keep that clock in
    step with what the caller hears:

    - a context's audio plays after the previous context's audio, not after the previous context's last
      word starts: when a context finishes, pipecat's last-word time is moved up to the estimated end of
      its audio, so the next context (the next sentence of a greeting, say) is timed from there;
    - a reply's next sentence can arrive after the caller has heard all of the audio before it (a slow
      LLM): its words are then timed from the moment its audio is handed over, not from the end of the
      audio before it.

    ``TTSStartedFrame`` is released on the same clock too, at the time its context's words are timed
    from. Without a time it waits in the transport's audio queue behind the previous context's audio,
    which can run behind that clock: the next sentence's first words could then reach the assistant
    aggregator before the frame that opens their turn, and a barge-in between the two would find no turn
    open to cut.
    """

    Settings = HibariTTSSettings
    _settings: HibariTTSSettings

    def __init__(
        self,
        *,
        voice: str = "heart",
        model_file: Path,
        speed: float = 1.0,
        frame_secs: float = 0.1,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            push_text_frames=False,
            push_start_frame=True,
            push_stop_frames=True,
            settings=HibariTTSSettings(model=None, voice=voice, language="en", speed=_clamp_speed(speed)),
            **kwargs,
        )
        # Speak the first words of each reply before its first sentence is complete (first_chunk.py).
        self._text_aggregator = FirstChunkAggregator(language=self._text_aggregator.language)
        self._voice_name = voice
        self._model_file = model_file
        self._frame_secs = frame_secs
        self._voice: _Voice | None = None
        # Seconds of audio queued so far in each open audio context: the next chunk's words start there.
        self._queued_s: dict[str, float] = {}
        # The audio context whose words pipecat is timing, and its baseline (clock ns of its audio's start).
        self._timed: tuple[str | None, int] | None = None

    def can_generate_metrics(self) -> bool:
        return True

    async def start(self, frame: StartFrame) -> None:
        await super().start(frame)
        if self._voice is None:
            self._voice = await asyncio.to_thread(load_voice, self._voice_name, self._model_file)

    async def run_tts(self, text: str, context_id: str) -> AsyncGenerator[Frame | None, None]:
        voice = self._voice
        if voice is None:
            yield ErrorFrame("local TTS voice is not loaded")
            return
        speed = self._settings.speed if isinstance(self._settings.speed, float | int) else 1.0
        await self.start_tts_usage_metrics(text)
        sentences = _SentenceAudio(voice, text, float(speed))
        try:
            while (chunk := await asyncio.to_thread(sentences.next)) is not None:
                await self.stop_ttfb_metrics()
                # The chunk starts after the audio already queued in its context, or now if the caller has
                # already heard all of that (its audio is handed over at once when its context is playing).
                start_s = max(self._queued_s.get(context_id, 0.0), self._played_s(context_id))
                self._queued_s[context_id] = start_s + chunk.seconds
                words = [(word, start_s + at) for word, at in chunk.words]
                if words:
                    await self.add_word_timestamps(words, context_id)
                pcm = _to_pcm16(chunk.audio)
                if self.sample_rate != HIBARI_SAMPLE_RATE:
                    pcm = await self._resampler.resample(pcm, HIBARI_SAMPLE_RATE, self.sample_rate)
                step = max(2, int(self.sample_rate * self._frame_secs) * 2)
                for offset in range(0, len(pcm), step):
                    yield TTSAudioRawFrame(pcm[offset : offset + step], self.sample_rate, 1, context_id=context_id)
            if sentences.unspoken:  # text hibari made no sound for (an emoji, say) still belongs to the reply
                await self.add_word_timestamps(
                    [(word, self._queued_s.get(context_id, 0.0)) for word in sentences.unspoken], context_id
                )
        finally:
            await self.stop_ttfb_metrics()
            if not self.audio_context_available(context_id):  # interrupted: no completion hook will run
                self._queued_s.pop(context_id, None)

    # --- keeping pipecat's word clock on the audio ------------------------------------------------

    def _played_s(self, context_id: str) -> float:
        """Seconds since ``context_id``'s audio started playing, or 0 when it is not the one playing."""
        if self._timed is None or self._timed[0] != context_id:
            return 0.0
        return float(nanoseconds_to_seconds(self.get_clock().get_time() - self._timed[1]))

    async def start_word_timestamps(self) -> None:
        tracker = self._word_timestamp_tracker
        starting = not tracker.started
        await super().start_word_timestamps()  # type: ignore[no-untyped-call]
        if starting:
            # pipecat calls this when the playing context's first audio frame leaves the service.
            self._timed = (self.get_active_audio_context_id(), tracker.pts(0))

    async def on_audio_context_completed(self, context_id: str) -> None:
        await super().on_audio_context_completed(context_id)
        queued_s = self._queued_s.pop(context_id, None)
        if self._timed is not None and self._timed[0] == context_id and queued_s is not None:
            # The next context's words are timed from max(last word's time, now): make that the end of
            # this context's audio rather than the start of its last word.
            end = self._timed[1] + seconds_to_nanoseconds(queued_s)
            tracker = self._word_timestamp_tracker
            tracker.last_pts = max(tracker.last_pts, end)
        self._timed = None

    async def on_audio_context_interrupted(self, context_id: str) -> None:
        await super().on_audio_context_interrupted(context_id)
        self._queued_s.pop(context_id, None)
        if self._timed is not None and self._timed[0] == context_id:
            self._timed = None

    async def push_frame(self, frame: Frame, direction: FrameDirection = FrameDirection.DOWNSTREAM) -> None:
        if isinstance(frame, TTSStartedFrame) and direction == FrameDirection.DOWNSTREAM and not frame.pts:
            # The baseline pipecat gives this context's words (see the class docstring).
            frame.pts = max(self._word_timestamp_tracker.last_pts, self.get_clock().get_time())
        await super().push_frame(frame, direction)


@dataclass
class _Chunk:
    """One piece of audio the model made at once, and the words it says with their estimated starts."""

    audio: np.ndarray
    words: list[tuple[str, float]]

    @property
    def seconds(self) -> float:
        return len(self.audio) / float(HIBARI_SAMPLE_RATE)


class _SentenceAudio:
    """Synthesises a text one sentence per ``next()`` call, so each call can run in its own thread hop.

    Sentences are cut as hibari's own ``phonemize`` cuts them (``split_sentences``, then clauses for a
    sentence too long for the model), but from the text, so each chunk knows which words it says.
    """

    def __init__(self, voice: _Voice, text: str, speed: float) -> None:
        self._voice = voice
        self._speed = speed
        self._text = text
        self._pieces: Iterator[tuple[str, list[str]]] | None = None
        # Words of pieces that made no sound, carried to the next chunk (or left for the caller at the end).
        self.unspoken: list[str] = []

    def next(self) -> _Chunk | None:
        with self._voice.lock:
            model = self._voice.model
            if self._pieces is None:
                self._pieces = _pieces(model, self._text)
            for phonemes, words in self._pieces:
                words = [*self.unspoken, *words]
                audio: np.ndarray = model.from_ids(model.ids(phonemes), self._speed) if phonemes else np.zeros(0)
                if not audio.size:
                    self.unspoken = words
                    continue
                carried = len(self.unspoken)
                self.unspoken = []
                weights = [0.0] * carried + _word_weights(model, words[carried:])
                starts = estimate_word_starts(audio, weights, HIBARI_SAMPLE_RATE)
                return _Chunk(audio, list(zip(words, starts, strict=True)))
            return None


def _pieces(model: Hibari, text: str) -> Iterator[tuple[str, list[str]]]:
    """(phonemes, words) for each piece of ``text`` the model synthesises at once, in order."""
    for sentence in model.split_sentences(text):
        phonemes = model.g2p(sentence)
        if len(phonemes) <= MAX_PHONEMES:
            yield phonemes, sentence.split()
            continue
        # As hibari does, but on the text's clauses so the words of each piece are known.
        piece_phonemes, piece_words = "", list[str]()
        for clause in _CLAUSE.split(sentence):
            clause_phonemes = model.g2p(clause)
            if piece_phonemes and len(piece_phonemes) + len(clause_phonemes) + 1 > MAX_PHONEMES:
                yield piece_phonemes, piece_words
                piece_phonemes, piece_words = "", []
            piece_phonemes = f"{piece_phonemes} {clause_phonemes}" if piece_phonemes else clause_phonemes
            piece_words += clause.split()
        if piece_words:
            yield piece_phonemes, piece_words


def _word_weights(model: Hibari, words: Sequence[str]) -> list[float]:
    """How long each word is expected to take, in phonemes (see ``estimate_word_starts``)."""
    weights = []
    for i, word in enumerate(words):
        sounds = sum(1 for c in model.g2p(word) if c in model.vocab and c not in _STRESS)
        pauses = i < len(words) - 1 and word.rstrip(_CLOSING).endswith(_PAUSE_MARKS)
        weights.append(sounds + 1.0 + (CLAUSE_PAUSE if pauses else 0.0))  # + 1: the space after the word
    return weights


def estimate_word_starts(audio: np.ndarray, weights: Sequence[float], sample_rate: int) -> list[float]:
    """Estimated start (seconds into ``audio``) of each word of a chunk, from the words' weights.

    hibari reports no alignment, so the speech in the chunk is shared out among its words in proportion
    to their weights: word *i* starts at ``onset + (end - onset) * W_i / W``, where ``W_i`` is the total
    weight of the words before it and ``W`` that of all of them. ``onset`` and ``end`` are where the
    chunk's speech starts and stops: the first and last 10 ms window at least a tenth as loud (RMS) as
    the loudest one (hibari pads a sentence with ~0.3 s of silence before and up to ~0.5 s after).

    A word's weight is its phoneme count (the ids hibari's G2P gives for the word alone, stress marks
    left out, as they take no time) plus one for the space after it, plus ``CLAUSE_PAUSE`` when it ends
    with a mark the voice pauses at (a comma, a semicolon, a dash), except for the chunk's last word,
    whose trailing silence is already outside ``[onset, end]``. Text hibari says nothing for gets weight
    0 and starts with the next word.

    Error bound. The estimate is exact at ``onset`` and at ``end`` (to a 10 ms window), and its error
    never carries over to the next chunk: each chunk (one sentence, or one clause group of a very long
    sentence) is placed after the real length of the audio before it. Inside a chunk, if every phoneme
    id (a pause counted as ``CLAUSE_PAUSE`` ids) really lasts between ``a`` and ``b`` seconds, a word a
    fraction ``f`` of the weight through a chunk of ``N`` ids is off by at most
    ``N * f * (1 - f) * (b - a)``: zero at both ends, largest mid-chunk, and growing with the chunk's
    length; that is at most a quarter of the chunk's duration times ``(b - a) / a``. Measured on the
    ``heart`` voice against Whisper's word times (129 words of twelve voice-agent sentences of 2-7 s,
    each sentence's first word left out as Whisper puts it at 0; ``test_word_timing.py`` repeats the
    check), the error is about 0.1 s on average, within 0.25 s for nine words in ten and at most about
    0.5 s, the largest next to a pause longer or shorter than ``CLAUSE_PAUSE`` assumes; the estimate
    runs about 40 ms early on average. A word can therefore be kept after a barge-in that started just
    before the caller heard it, or be dropped although its first sound had played, by up to that much.
    """
    duration = len(audio) / sample_rate
    if not len(weights):
        return []
    onset, end = _speech_span(audio, sample_rate)
    total = float(sum(weights))
    starts: list[float] = []
    before = 0.0
    for weight in weights:
        starts.append(min(duration, onset + (end - onset) * (before / total if total > 0 else 0.0)))
        before += weight
    return starts


def _speech_span(audio: np.ndarray, sample_rate: int) -> tuple[float, float]:
    """(start, end) in seconds of the speech in ``audio``: its first and last window loud enough."""
    window = max(1, int(sample_rate * _SPEECH_WINDOW_S))
    count = len(audio) // window
    duration = len(audio) / sample_rate
    if count == 0:
        return 0.0, duration
    levels = np.sqrt(np.mean(np.square(audio[: count * window].astype(np.float64).reshape(count, window)), axis=1))
    loud = np.flatnonzero(levels >= _SPEECH_LEVEL * levels.max()) if levels.max() > 0 else np.zeros(0, int)
    if not loud.size:
        return 0.0, duration
    return float(loud[0] * window / sample_rate), float(min(duration, (loud[-1] + 1) * window / sample_rate))


def _to_pcm16(audio: np.ndarray) -> bytes:
    pcm: bytes = (np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()
    return pcm


def _clamp_speed(speed: float | None) -> float:
    return min(MAX_SPEED, max(MIN_SPEED, float(speed or 1.0)))


def create_tts_service(config: Any, ctx: ProviderContext) -> LocalHibariTTSService:
    """Factory for ``("tts", "local")``: a ``LocalHibariTTSService`` for a ``VoiceConfig``.

    The service follows the pipeline's output rate (8 kHz on phone calls), resampling hibari's 24 kHz.
    """
    voice = getattr(config, "voice_id", None) or "heart"
    return LocalHibariTTSService(
        voice=voice, model_file=hibari_voice_file(voice), speed=_clamp_speed(getattr(config, "speed", 1.0))
    )


async def preload(voice: str = "heart") -> None:
    """Load the voice now (in a thread), so the first call does not wait for it."""
    await asyncio.to_thread(load_voice, voice, hibari_voice_file(voice))
