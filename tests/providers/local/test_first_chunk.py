"""The local voice starts on a reply's first few words instead of waiting for its first full stop."""

from __future__ import annotations

from bvrai.providers.local.first_chunk import FirstChunkAggregator


async def feed(aggregator: FirstChunkAggregator, tokens: list[str]) -> list[str]:
    out = []
    for token in tokens:
        out += [a.text async for a in aggregator.aggregate(token)]
    flushed = await aggregator.flush()
    return out + ([flushed.text] if flushed and flushed.text else [])


async def test_a_long_first_sentence_is_released_after_four_words_then_by_sentence():
    tokens = ["Bright", " Smile", " Dental", " is", " open", " from", " 8", " am", " to", " 6", " pm.", " A", " check",
              "-up", " costs", " $80."]  # fmt: skip
    chunks = await feed(FirstChunkAggregator(language="en"), tokens)
    assert chunks == ["Bright Smile Dental is", "open from 8 am to 6 pm.", "A check-up costs $80."]


async def test_a_clause_mark_releases_the_first_chunk_earlier_and_each_reply_starts_over():
    aggregator = FirstChunkAggregator(language="en")
    first = await feed(aggregator, ["Of", " course,", " we", " deliver", " until", " ten", " at", " night."])
    second = await feed(aggregator, ["Sure,", " at", " nine."])
    assert first == ["Of course,", "we deliver until ten at night."]
    assert second == ["Sure, at nine."]  # one word before the comma is too short to say alone


async def test_an_interruption_forgets_the_half_reply():
    aggregator = FirstChunkAggregator(language="en")
    [a async for a in aggregator.aggregate("We are open")]
    await aggregator.handle_interruption()
    assert await feed(aggregator, ["Hello", " there,", " how", " can", " I", " help?"]) == [
        "Hello there,",
        "how can I help?",
    ]
