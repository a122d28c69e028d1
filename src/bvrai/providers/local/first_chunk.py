"""Start speaking a reply before its first sentence is finished.

pipecat hands the TTS whole sentences, so the caller hears nothing until the LLM has written the
reply's first full stop. On a CPU where the local LLM writes ~13 tokens a second, a 15-token sentence
costs over a second of silence — most of the turn's latency. Since the local voice synthesises a few
words in ~30 ms, the first chunk of each reply is released early: at the first clause mark (, ; :)
once it has two words, or after ``max_words`` words at a word boundary. The rest of the reply goes
sentence by sentence as before. The price is a small prosody seam after the first few words; the
gain is the LLM time for the rest of the first sentence.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from pipecat.utils.text.base_text_aggregator import Aggregation, TextType
from pipecat.utils.text.simple_text_aggregator import SimpleTextAggregator

CLAUSE_MARKS = (",", ";", ":")


class FirstChunkAggregator(SimpleTextAggregator):
    def __init__(self, *, max_words: int = 4, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[no-untyped-call]
        self._max_words = max_words
        self._first = True

    async def aggregate(self, text: str) -> AsyncIterator[Aggregation]:
        for char in text:
            self._text += char
            result = await self._check_sentence_with_lookahead(char)
            if result:
                self._first = False
                yield result
                continue
            if self._first and char.isspace():
                chunk = self._text.strip()
                words = chunk.split()
                if (chunk.endswith(CLAUSE_MARKS) and len(words) >= 2) or len(words) >= self._max_words:
                    self._first = False
                    await super().reset()  # type: ignore[no-untyped-call]
                    yield Aggregation(text=chunk, type=TextType.SENTENCE)

    async def flush(self) -> Aggregation | None:
        self._first = True
        return await super().flush()

    async def handle_interruption(self) -> None:
        self._first = True
        await super().handle_interruption()  # type: ignore[no-untyped-call]

    async def reset(self) -> None:
        self._first = True
        await super().reset()  # type: ignore[no-untyped-call]
