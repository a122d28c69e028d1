"""pipecat's word alignment with its pure text functions memoised.

When a TTS reports word timestamps, pipecat matches every spoken word back to the text it was given
(``TextSegmentMap``, ``WordCompletionTracker``), so that after a barge-in the transcript holds exactly
the words the caller heard. For each word it normalises the whole segment again: ``alnum_only`` on
the segment's two texts and ``TextSegment.is_transformed`` (markup stripped, texts compared, words
counted). A sentence of *w* words and *c* characters so costs about *w* times *c* character steps, most of
a call's CPU while it speaks a long sentence (12 % of a media process serving 50 calls, profiled).

Both are pure functions of immutable strings (``TextSegment`` is a frozen dataclass), so caching them
changes no answer. ``memoise()`` swaps the cached versions in where pipecat looks them up.
"""

from __future__ import annotations

import functools
from typing import Any

from pipecat.utils.context import text_segment_map, word_completion_tracker
from pipecat.utils.context.text_segment_map import TextSegment
from pipecat.utils.text import alnum_utils

CACHE_SIZE = 4096  # distinct texts: segments of the calls speaking at once, and their words


def memoise() -> None:
    if getattr(alnum_utils.alnum_only, "cache_info", None) is not None:
        return  # already done in this process
    cached_alnum_only = functools.lru_cache(maxsize=CACHE_SIZE)(alnum_utils.alnum_only)
    for module in (alnum_utils, text_segment_map, word_completion_tracker):
        if hasattr(module, "alnum_only"):
            module.alnum_only = cached_alnum_only  # type: ignore[attr-defined]

    uncached = TextSegment.__dict__["is_transformed"].fget

    @functools.lru_cache(maxsize=CACHE_SIZE)
    def is_transformed(original: str, tts: str, original_start: int, original_end: int) -> bool:
        segment = TextSegment(original, tts, original_start, original_end)
        return bool(uncached(segment))

    def cached(self: Any) -> bool:
        return is_transformed(self.original, self.tts, self.original_start, self.original_end)

    TextSegment.is_transformed = property(cached)  # type: ignore[method-assign,assignment]
