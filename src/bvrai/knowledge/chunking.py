"""Splitting text into passages by structure: sections by heading, then paragraphs, packed to a token budget.

A chunk never spans two sections: each starts with its section's heading path (``Menu > Pizzas``),
so a passage found alone still says what it is about. Paragraphs are packed until the budget; a
paragraph longer than the budget is cut by sentences (and a sentence longer than that by words).
Consecutive chunks of a section share ``overlap`` tokens so a fact cut at a boundary is whole in one of
them. Tokens are counted as words and punctuation marks, close to what a WordPiece tokenizer counts
for English. The output depends only on the text and the two numbers: re-running it gives the same
chunks in the same order, which is what makes ingestion resumable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[])")


def count_tokens(text: str) -> int:
    return len(_TOKEN.findall(text))


@dataclass(frozen=True, slots=True)
class Chunk:
    ord: int
    text: str
    heading: str


def _sections(text: str) -> list[tuple[str, list[str]]]:
    """(heading path, paragraphs) per section, in order."""
    path: list[tuple[int, str]] = []
    sections: list[tuple[str, list[str]]] = []
    paragraphs: list[str] = []
    current: list[str] = []

    def close_paragraph() -> None:
        if current:
            paragraphs.append(" ".join(s.strip() for s in current).strip())
            current.clear()

    def close_section() -> None:
        close_paragraph()
        if paragraphs:
            sections.append((" > ".join(title for _, title in path), list(paragraphs)))
            paragraphs.clear()

    for line in text.splitlines():
        heading = _HEADING.match(line)
        if heading:
            close_section()
            level = len(heading.group(1))
            path = [(lvl, t) for lvl, t in path if lvl < level] + [(level, heading.group(2).strip())]
        elif not line.strip():
            close_paragraph()
        else:
            current.append(line)
    close_section()
    return sections


def _pieces(paragraph: str, budget: int) -> list[str]:
    """The paragraph, cut into pieces within the budget: sentences first, then words."""
    if count_tokens(paragraph) <= budget:
        return [paragraph]
    out: list[str] = []
    for sentence in _SENTENCE.split(paragraph):
        if count_tokens(sentence) <= budget:
            out.append(sentence)
            continue
        words = sentence.split()
        piece: list[str] = []
        for word in words:
            if piece and count_tokens(" ".join([*piece, word])) > budget:
                out.append(" ".join(piece))
                piece = []
            piece.append(word)
        if piece:
            out.append(" ".join(piece))
    return out


def _tail(pieces: list[str], overlap: int) -> list[str]:
    """The last pieces of a chunk adding up to at most ``overlap`` tokens (the next chunk's start)."""
    kept: list[str] = []
    total = 0
    for piece in reversed(pieces):
        size = count_tokens(piece)
        if total + size > overlap:
            break
        kept.insert(0, piece)
        total += size
    return kept


def chunk_text(text: str, *, max_tokens: int = 200, overlap: int = 30) -> list[Chunk]:
    if max_tokens < 20:
        raise ValueError("max_tokens must be at least 20")
    overlap = max(0, min(overlap, max_tokens // 2))
    chunks: list[Chunk] = []
    for heading, paragraphs in _sections(text):
        prefix = f"{heading}\n" if heading else ""
        budget = max(10, max_tokens - count_tokens(prefix))
        pieces = [p for paragraph in paragraphs for p in _pieces(paragraph, budget)]
        window: list[str] = []
        size = 0
        fresh = 0  # pieces in the window that no earlier chunk carried
        for piece in pieces:
            piece_size = count_tokens(piece)
            if window and size + piece_size > budget:
                chunks.append(Chunk(len(chunks), prefix + "\n".join(window), heading))
                window = _tail(window, overlap)
                size = sum(count_tokens(p) for p in window)
                fresh = 0
            window.append(piece)
            size += piece_size
            fresh += 1
        if window and fresh:
            chunks.append(Chunk(len(chunks), prefix + "\n".join(window), heading))
    return chunks
