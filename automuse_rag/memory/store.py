"""Chroma collections of one story: chunk summaries, entity events and raw chunks.

Embedded (``PersistentClient`` at ``stores/NAME/chroma``) or on a Chroma server
(``HttpClient`` from ``--chroma-url`` / ``AUTOMUSE_CHROMA_URL``). Embeddings are
always computed by our embedder and passed in (Chroma's default embedding function
would download a model); collections use cosine space and record the embedder's
name and dimension, and opening them with another embedder raises
:class:`~automuse_rag.errors.StoreError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from automuse_rag.errors import StoreError

KINDS = ("summary", "entity", "chunk")
_SUFFIX = {"summary": "summaries", "entity": "entities", "chunk": "chunks"}
_PAGE = 2000


def mismatch_message(story: str, have: tuple[str, int], want: tuple[str, int]) -> str:
    return (
        f"story {story} was embedded with {have[0]} ({have[1]} dims), not {want[0]} ({want[1]} dims); "
        f"use --embedder {have[0]} or a new --story"
    )


def _client(path: Path | None, url: str | None):
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if url:
        parsed = urlparse(url if "://" in url else f"http://{url}")
        host = parsed.hostname or "localhost"
        port = parsed.port or (443 if parsed.scheme == "https" else 8000)
        try:
            client = chromadb.HttpClient(host=host, port=port, ssl=parsed.scheme == "https", settings=chroma_settings)
            client.heartbeat()
        except Exception as exc:  # connection refused, DNS, TLS...
            raise StoreError(f"cannot reach the Chroma server at {url}: {type(exc).__name__}") from None
        return client
    assert path is not None
    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=chroma_settings)


class ChromaStore:
    """The three collections of a story, named ``{story}-summaries`` etc. (so many
    stories can share one Chroma server)."""

    def __init__(self, story: str, embedder_name: str, dimension: int, *, path: Path | None = None, url: str | None = None) -> None:
        self.story = story
        self.embedder = (embedder_name, dimension)
        self.url = url
        self._client = _client(path, url)
        self._cols: dict[str, Any] = {}
        for kind in KINDS:
            self._cols[kind] = self._open(kind)

    def _open(self, kind: str):
        name = f"{self.story}-{_SUFFIX[kind]}"
        meta = {"hnsw:space": "cosine", "embedder": self.embedder[0], "dimension": self.embedder[1], "kind": kind}
        col = self._client.get_or_create_collection(name, embedding_function=None, metadata=meta)
        have = (str((col.metadata or {}).get("embedder")), int((col.metadata or {}).get("dimension") or 0))
        if have != self.embedder:
            raise StoreError(mismatch_message(self.story, have, self.embedder))
        return col

    def upsert(self, kind: str, ids: Sequence[str], documents: Sequence[str], metadatas: Sequence[dict], embeddings: Sequence[Sequence[float]]) -> None:
        if ids:
            self._cols[kind].upsert(ids=list(ids), documents=list(documents), metadatas=list(metadatas), embeddings=[list(e) for e in embeddings])

    def delete(self, kind: str, ids: Sequence[str]) -> None:
        for start in range(0, len(ids), _PAGE):
            self._cols[kind].delete(ids=list(ids[start : start + _PAGE]))

    def count(self, kind: str) -> int:
        return self._cols[kind].count()

    def get_all(self, kind: str) -> dict[str, tuple[str, dict]]:
        """Every record of a collection: id -> (document, metadata)."""
        col = self._cols[kind]
        out: dict[str, tuple[str, dict]] = {}
        total = col.count()
        for offset in range(0, total, _PAGE):
            page = col.get(include=["documents", "metadatas"], limit=_PAGE, offset=offset)
            for i, d, m in zip(page["ids"], page["documents"], page["metadatas"]):
                out[i] = (d, dict(m or {}))
        return out

    def query(self, kind: str, embedding: Sequence[float], k: int, where: dict | None = None) -> list[tuple[str, str, dict, float]]:
        """Nearest records: (id, document, metadata, similarity in [0, 1])."""
        col = self._cols[kind]
        if k <= 0 or col.count() == 0:
            return []
        res = col.query(query_embeddings=[list(embedding)], n_results=k, where=where, include=["documents", "metadatas", "distances"])
        hits = []
        for i, d, m, dist in zip(res["ids"][0], res["documents"][0], res["metadatas"][0], res["distances"][0]):
            hits.append((i, d, dict(m or {}), max(0.0, min(1.0, 1.0 - float(dist)))))
        return hits

    def drop(self) -> None:
        """Delete the story's collections (used by ``stories rm`` for server stores)."""
        for kind in KINDS:
            try:
                self._client.delete_collection(f"{self.story}-{_SUFFIX[kind]}")
            except Exception:  # already gone
                pass


def drop_collections(story: str, url: str) -> None:
    """Remove a story's collections from a Chroma server."""
    client = _client(None, url)
    for kind in KINDS:
        try:
            client.delete_collection(f"{story}-{_SUFFIX[kind]}")
        except Exception:
            pass
