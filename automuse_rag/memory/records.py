"""The Chroma records of a chunk, derived from its row in ``state.sqlite``: its
summary, its raw text, and one record per name it mentions (the sentence that
describes the name), each with chunk and chapter metadata."""

from __future__ import annotations

import hashlib
from typing import Any

from automuse_rag.lore.types import ChunkAnalysis
from automuse_rag.memory.state import merged_mentions
from automuse_rag.memory.types import ChunkRecord
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
