"""Reachability of the records in a story's Chroma collections: probes that search
each record by its own embedding, and relinking of the records no search returns
(:class:`Reachability`, a part of :class:`~automuse_rag.memory.store.ChromaStore`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from automuse_rag.memory.chroma_client import Meta, Page

#: Reachability probes (:meth:`ChromaStore.probe`). HNSW can leave a stored record that
#: no search returns: when neighbours prune their link lists, a node may lose every link
#: pointing at it. Chroma inserts a batch in no fixed order, so this happens at random:
#: seen in CI once (a kill-and-resume test of the sample story with hash:32 embeddings:
#: chunk 14 of 94, after Chroma replayed a 48-record batch from its log at reopen); not
#: in 12 plain ingests of the same text, nor in the P&P and Frankenstein stores (4,231 and
#: 1,385 records, each probed). Chroma 1.5.9 shows the same symptom after updates
#: (chroma-core/chroma#7758). A probe asks for each record's own embedding; a record not
#: among the PROBE_K nearest is asked again with PROBE_DEEP (a wider search, and room for
#: records with identical embeddings); one still missing is unreachable. Upserting it
#: again (same values) links it afresh.
PROBE_K = 10
PROBE_DEEP = 1000
PROBE_BATCH = 256
RELINK_ROUNDS = 3


#: How many times relink_sweeps relinks what the previous relinking cut off.
RELINK_SWEEPS = 4

ProbeFn = Callable[[Sequence[str]], tuple[list[str], set[str], set[str]]]


def relink_sweeps(probe: ProbeFn, relink: Callable[[Sequence[str]], list[str]], lost: Sequence[str]) -> tuple[set[str], set[str]]:
    """Relink ``lost`` records, then the records that relinking cut off: rewriting a
    record re-wires its neighbours' links, which can prune another record's last one
    (a CI run relinked 4 records after a killed ingest, and a fifth, in chunk 4, was
    unreachable afterwards). After each relinking the records within two hops of the
    relinked ones (their nearest, and those nearest to them) are probed, and the lost
    ones relinked in turn, at most RELINK_SWEEPS times. ``probe(ids)`` and ``relink(ids)``
    are :meth:`ChromaStore.probe` and :meth:`ChromaStore.relink` for one collection.
    Returns (relinked, still unreachable)."""
    touched: set[str] = set()
    todo = sorted(set(lost))
    for _ in range(RELINK_SWEEPS):
        if not todo:
            break
        touched.update(todo)
        relink(todo)
        _, seen, near = probe(todo)
        lost1, seen1, near1 = probe(sorted(near - seen))
        lost2 = probe(sorted(near1 - seen - seen1))[0]
        todo = sorted(set(lost1) | set(lost2))
    left = set(probe(sorted(touched | set(todo)))[0]) if touched else set()
    return touched - left, left


class Reachability:
    """Probing and relinking, over the collections of a
    :class:`~automuse_rag.memory.store.ChromaStore` (which provides what is declared here)."""

    _cols: dict[tuple[str, int | None], Any]
    _counts: dict[tuple[str, int | None], int]
    _guard: Callable[[Callable[..., Any]], Callable[..., Any]]

    if TYPE_CHECKING:

        def count(self, kind: str, tier: int | None = None) -> int: ...

        def pages(
            self, kind: str, *, tier: int | None = None, where: Meta | None = None, embeddings: bool = False
        ) -> Iterator[Page]: ...

    def probe(
        self, kind: str, tier: int | None = None, *, ids: Sequence[str] | None = None, where: Meta | None = None
    ) -> tuple[list[str], set[str], set[str]]:
        """Search each record (every one, or those ``ids`` / ``where`` select) by its own
        embedding: (ids no search returns, ids probed, ids found near the probed ones)."""
        col = self._cols[(kind, tier)]
        total = self.count(kind, tier)
        lost: list[str] = []
        probed: set[str] = set()
        near: set[str] = set()
        for found, embs in self._embedding_pages(kind, tier, ids, where):
            probed.update(found)
            res = self._guard(col.query)(query_embeddings=embs, n_results=min(total, PROBE_K), include=["distances"])
            suspects = []
            for rid, emb, got in zip(found, embs, res["ids"]):
                near.update(got)
                if rid not in got:
                    suspects.append((rid, emb))
            if suspects:
                deep = self._guard(col.query)(
                    query_embeddings=[e for _, e in suspects], n_results=min(total, PROBE_DEEP), include=["distances"]
                )
                lost += [rid for (rid, _), got in zip(suspects, deep["ids"]) if rid not in got]
        return sorted(lost), probed, near

    def _embedding_pages(
        self, kind: str, tier: int | None, ids: Sequence[str] | None, where: Meta | None
    ) -> Iterator[tuple[list[str], list[list[float]]]]:
        """(ids, embeddings) of every record (``pages``), or of those ``ids``."""
        if ids is None:
            for found, _, _, embs in self.pages(kind, tier=tier, where=where, embeddings=True):
                yield found, embs
            return
        col = self._cols[(kind, tier)]
        ordered = sorted(ids)
        for start in range(0, len(ordered), PROBE_BATCH):
            page = self._guard(col.get)(ids=ordered[start : start + PROBE_BATCH], include=["embeddings"])
            if page["ids"]:
                yield list(page["ids"]), [list(map(float, e)) for e in page["embeddings"]]

    def relink(self, kind: str, tier: int | None, ids: Sequence[str]) -> list[str]:
        """Write unreachable records again (same ids, documents, metadata and
        embeddings) until a search finds them, at most RELINK_ROUNDS times; the last
        round deletes and adds them instead. Returns the ids still unreachable."""
        col = self._cols[(kind, tier)]
        left = sorted(ids)
        for round_ in range(RELINK_ROUNDS):
            if not left:
                break
            for start in range(0, len(left), PROBE_BATCH):
                part = left[start : start + PROBE_BATCH]
                page = self._guard(col.get)(ids=part, include=["documents", "metadatas", "embeddings"])
                if not page["ids"]:
                    continue
                if round_ == RELINK_ROUNDS - 1:
                    self._guard(col.delete)(ids=list(page["ids"]))
                self._guard(col.upsert)(
                    ids=list(page["ids"]),
                    documents=list(page["documents"]),
                    metadatas=[dict(m or {}) for m in page["metadatas"]],
                    embeddings=[list(map(float, e)) for e in page["embeddings"]],
                )
            self._counts.pop((kind, tier), None)
            left = self.probe(kind, tier, ids=left)[0]
        return left

    def relink_note(self, kind: str, tier: int | None, lost: Sequence[str]) -> str:
        """Relink ``lost`` records and what relinking them cut off (:func:`relink_sweeps`),
        and say how it went, in one line."""
        relinked, left = relink_sweeps(
            lambda ids: self.probe(kind, tier, ids=ids), lambda ids: self.relink(kind, tier, ids), lost
        )
        where = f"{kind} collection" + ("" if tier is None else f" tier {tier}")
        return f"relinked {len(relinked)} of {len(relinked) + len(left)} Chroma {where} records no search found"
