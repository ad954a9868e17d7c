"""The Chroma records of a chunk, derived from its row in ``state.sqlite``: its
summary, its raw text, and one record per name it mentions (the sentence that
describes the name), each with chunk and chapter metadata."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from automuse_rag.lore.types import ChunkAnalysis
from automuse_rag.memory.state import merged_mentions
from automuse_rag.memory.types import ChunkRecord
from automuse_rag.models.base import Embedder
from automuse_rag.text.types import Chunk


def name_hash(name: str) -> str:
    """The part of a mention's Chroma id that names it."""
    return hashlib.sha1(name.encode("utf-8")).hexdigest()[:12]


def mention_id(chunk: int, name: str) -> str:
    return f"mention:{chunk:05d}:{name_hash(name)}"


def mention_doc(name: str, description: str) -> str:
    return f"{name}: {description}" if description else name


def chunk_records(
    chunk: Chunk | ChunkRecord, analysis: ChunkAnalysis, summary: str
) -> dict[str, list[tuple[str, str, dict[str, Any]]]]:
    """The Chroma records of one chunk, by kind: (id, document, metadata)."""
    meta = {"chunk": chunk.index, "chapter": chunk.chapter, "chunk_id": chunk.id}
    out: dict[str, list[tuple[str, str, dict[str, Any]]]] = {
        "summary": [(f"summary:{chunk.index:05d}", summary, {**meta, "kind": "summary"})],
        "chunk": [(f"chunk:{chunk.index:05d}", chunk.text, {**meta, "kind": "chunk"})],
        "mention": [],
    }
    for name, desc in sorted((n, r.description) for n, r in merged_mentions(analysis.mentions).items()):
        out["mention"].append((mention_id(chunk.index, name), mention_doc(name, desc), {**meta, "kind": "mention", "name": name}))
    return out


#: Texts per embedding call.
EMBED_BATCH = 256
Records = dict[str, list[tuple[str, str, dict[str, Any]]]]


def batch_records(items: Sequence[tuple[Chunk, ChunkAnalysis]]) -> tuple[list[str], Records]:
    """The summaries and the Chroma records of a batch of analysed chunks, by kind."""
    summaries = [a.summary or c.text[:300] for c, a in items]
    records: Records = {"summary": [], "chunk": [], "mention": []}
    for (c, a), s in zip(items, summaries):
        for kind, recs in chunk_records(c, a, s).items():
            records[kind] += recs
    return summaries, records


def record_texts(records: Records) -> list[str]:
    """The documents of ``records`` in the order their vectors are given."""
    return [doc for kind in records for _, doc, _ in records[kind]]


def embed_texts(embedder: Embedder, texts: list[str]) -> list[list[float]]:
    """``texts``' vectors, :data:`EMBED_BATCH` texts per call."""
    out: list[list[float]] = []
    for i in range(0, len(texts), EMBED_BATCH):
        out.extend(embedder.embed(texts[i : i + EMBED_BATCH]))
    return out
