"""Chroma: the story's vector index, derived from ``state.sqlite``.

Three kinds of records, each in its own collection: chunk summaries
(``summary:00012``), raw chunks (``chunk:00012``) and name mentions
(``mention:00012:<hash of the name>``: one per name per chunk, with the sentence
that describes it), all with ``chunk`` and ``chapter`` metadata. Embeddings are
always ours (Chroma's default embedding function would download a model).

**Namespaced.** Collections are named ``am-<store id>-<kind>``; the store id is a
UUID kept in ``state.sqlite`` and the manifest, so any number of homes can share a
Chroma server with the same story names, and ``stories rm`` drops only its own.

**As-of search at flat cost.** Chroma's metadata filter (``chunk <= i``) gets slower
as a collection grows (hnswlib explores the graph for allowed ids: measured 150-600 ms
at 100k records, whatever the filter's selectivity), while an unfiltered query stays
at a few milliseconds. So the store never filters a large collection. It keeps, besides
the whole collection, *prefix tiers*: ``...-t0`` holds the records of chunks
``< 1024``, ``-t1`` of chunks ``< 8192``, ``-t2`` of chunks ``< 65536``, and so on
(x8), each created once the story passes its bound. A search as of chunk i goes to the
smallest collection that holds every chunk ``<= i``; at least 1/8 of it is then
allowed, so an unfiltered query for ``k * 8 * 1.6 + 8`` records, filtered here, finds
the best k (it asks again for more, then uses Chroma's filter on the smallest tier,
if it does not). Records are stored about 1.8 times at 100k chunks (docs/benchmarks.md).

**Ids and distances only.** A query asks Chroma for ids and distances, nothing else:
an id says its chunk (and, for a mention, a hash of its name), and the text lives in
``state.sqlite`` anyway. Fetching documents and metadata took most of a query's time.

The client (local or a server) is made in ``chroma_client.py``; the probes that find
records no search returns, and their relinking, are in ``reach.py``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from automuse_rag.errors import StoreError

# Meta and connect are re-exported (``as``): the store's readers import them from here.
from automuse_rag.memory.chroma_client import Meta as Meta, Page, StoreHit, connect as connect, guard
from automuse_rag.memory.reach import Reachability

KINDS = ("summary", "chunk", "mention")
TIERED = ("summary", "mention")  # what retrieval searches as of a chunk; raw chunks use the filter
TIER0 = 1024  # chunks in the first prefix tier
FANOUT = 8  # each tier holds FANOUT times the chunks of the one before
MAX_TIERS = 8
_PAGE = 2000


def mismatch_message(story: str, have: tuple[str, int], want: tuple[str, int]) -> str:
    return (
        f"story {story} was embedded with {have[0]} ({have[1]} dims), not {want[0]} ({want[1]} dims); "
        f"use --embedder {have[0]} or a new --story"
    )


def id_meta(record_id: str) -> Meta:
    """What a record's id says: its kind and chunk, and for a mention the hash of its
    name (``mention:00012:3f2a...``). Queries read nothing else from Chroma: fetching
    documents and metadata costs more than the nearest-neighbour search itself
    (measured: 3 ms against 1 ms for 8 hits at 1k records, 14 against 3 for 160)."""
    kind, chunk, *rest = record_id.split(":")
    meta: Meta = {"kind": kind, "chunk": int(chunk)}
    if rest:
        meta["name_hash"] = rest[0]
    return meta


#: Records a collection takes between two persists of its HNSW index (Chroma's
#: ``sync_threshold``, default 1,000). Until a persist, every write re-reads the records
#: written since the last one: measured on a 1k-record collection, one-record upserts
#: cost 9 ms after a persist and 21 ms just before the next (7 ms flat at 100). The
#: summary and chunk collections take one record per chunk, so generation's commits
#: would grow for 1,000 chunks at a time; mentions come about ten per chunk.
SYNC_EVERY = {"summary": 100, "chunk": 100}


def _configuration(kind: str, tier: int | None) -> dict[str, Any]:
    hnsw: dict[str, Any] = {"space": "cosine"}  # a configuration replaces the metadata's hnsw:space
    if tier is None and kind in SYNC_EVERY:
        hnsw.update(sync_threshold=SYNC_EVERY[kind], batch_size=SYNC_EVERY[kind])
    return {"hnsw": hnsw}


def tier_bound(level: int) -> int:
    """Tier ``level`` holds the records of chunks ``< tier_bound(level)``."""
    bound: int = TIER0 * FANOUT**level
    return bound


def collection_name(store_id: str, kind: str, tier: int | None = None) -> str:
    return f"am-{store_id}-{kind}" + ("" if tier is None else f"-t{tier}")


class ChromaStore(Reachability):
    """A story's collections (whole plus prefix tiers) in one Chroma client; probing
    and relinking unreachable records come from :class:`Reachability`."""

    def __init__(
        self,
        story: str,
        store_id: str,
        embedder: tuple[str, int],
        *,
        path: Path | None = None,
        url: str | None = None,
        create: bool = False,
        readonly: bool = False,
    ) -> None:
        self.story, self.store_id, self.embedder, self.url = story, store_id, embedder, url
        self._client = connect(path, url, create=create, readonly=readonly)
        self._cols: dict[tuple[str, int | None], Any] = {}
        self._counts: dict[tuple[str, int | None], int] = {}
        self._written: dict[str, set[str]] = {}
        self._guard = guard(f"story {story}", url)
        self._guard(self._open_all)(create)

    # ------------------------------------------------------------------ collections

    def _meta(self, kind: str, tier: int | None) -> dict[str, Any]:
        return {
            "hnsw:space": "cosine",
            "embedder": self.embedder[0],
            "dimension": self.embedder[1],
            "kind": kind,
            "story": self.story,
            "store_id": self.store_id,
            "upto": -1 if tier is None else tier_bound(tier),
        }

    def _open_all(self, create: bool) -> None:
        names = {c.name if hasattr(c, "name") else str(c) for c in self._client.list_collections()}
        for kind in KINDS:
            name = collection_name(self.store_id, kind)
            if name not in names and not create:
                raise StoreError(
                    f"story {self.story}: the Chroma collection {name} is missing; run automuse repair --story {self.story}"
                )
            self._cols[(kind, None)] = self._get(kind, None, create)
            for tier in range(MAX_TIERS):
                if collection_name(self.store_id, kind, tier) in names:
                    self._cols[(kind, tier)] = self._get(kind, tier, False)

    def _get(self, kind: str, tier: int | None, create: bool) -> Any:
        name = collection_name(self.store_id, kind, tier)
        if create:
            col = self._client.get_or_create_collection(
                name, embedding_function=None, metadata=self._meta(kind, tier), configuration=_configuration(kind, tier)
            )
        else:
            col = self._client.get_collection(name, embedding_function=None)
        meta = col.metadata or {}
        have = (str(meta.get("embedder")), int(meta.get("dimension") or 0))
        want = (self.embedder[0], self.embedder[1])
        if have != want:
            raise StoreError(mismatch_message(self.story, have, want))
        return col

    def tiers(self, kind: str) -> list[int]:
        return sorted(t for k, t in self._cols if k == kind and t is not None)

    def names(self) -> list[str]:
        return sorted(collection_name(self.store_id, k, t) for k, t in self._cols)

    def count(self, kind: str, tier: int | None = None) -> int:
        key = (kind, tier)
        if key not in self._counts:
            self._counts[key] = self._guard(self._cols[key].count)()
        return self._counts[key]

    # ------------------------------------------------------------------ writes

    def upsert(
        self,
        kind: str,
        ids: Sequence[str],
        documents: Sequence[str],
        metadatas: Sequence[Meta],
        embeddings: Sequence[Sequence[float]],
    ) -> None:
        """Upsert into the whole collection and every tier that covers each record's chunk."""
        if not ids:
            return
        for (k, tier), col in list(self._cols.items()):
            if k != kind:
                continue
            keep = [j for j, m in enumerate(metadatas) if tier is None or int(m["chunk"]) < tier_bound(tier)]
            if keep:
                self._guard(col.upsert)(
                    ids=[ids[j] for j in keep],
                    documents=[documents[j] for j in keep],
                    metadatas=[metadatas[j] for j in keep],
                    embeddings=[list(embeddings[j]) for j in keep],
                )
                self._counts.pop((k, tier), None)
        self._written.setdefault(kind, set()).update(ids)

    def written(self, kind: str) -> set[str]:
        """Ids upserted into ``kind`` through this client (since it was opened)."""
        return set(self._written.get(kind, ()))

    def delete(self, kind: str, ids: Sequence[str]) -> None:
        for (k, tier), col in self._cols.items():
            if k == kind:
                for start in range(0, len(ids), _PAGE):
                    self._guard(col.delete)(ids=list(ids[start : start + _PAGE]))
                self._counts.pop((k, tier), None)

    def grow_tiers(self, last_chunk: int) -> list[str]:
        """Create the prefix tiers a story with chunks up to ``last_chunk`` needs (each
        once the story passes its bound), filled from the whole collection. Returns
        the names created."""
        made = []
        for kind in TIERED:
            for tier in range(MAX_TIERS):
                bound = tier_bound(tier)
                if last_chunk < bound:
                    break
                if (kind, tier) in self._cols:
                    continue
                col = self._guard(self._get)(kind, tier, True)
                self._cols[(kind, tier)] = col
                for page in self.pages(kind, where={"chunk": {"$lt": bound}}, embeddings=True):
                    ids, docs, metas, embs = page
                    self._guard(col.upsert)(ids=ids, documents=docs, metadatas=metas, embeddings=embs)
                made.append(collection_name(self.store_id, kind, tier))
        return made

    def close(self) -> None:
        """Release the client (an embedded Chroma's files are then read afresh by the
        next client for the same path, in this process too)."""
        try:
            self._client.close()
        except Exception:  # already closed, or a server that went away
            pass

    def drop_tier(self, kind: str, tier: int) -> None:
        self._guard(self._client.delete_collection)(collection_name(self.store_id, kind, tier))
        self._cols.pop((kind, tier), None)
        self._counts.pop((kind, tier), None)

    # ------------------------------------------------------------------ reads

    def pages(self, kind: str, *, tier: int | None = None, where: Meta | None = None, embeddings: bool = False) -> Iterator[Page]:
        """Every record (id, document, metadata[, embedding]) in pages."""
        col = self._cols[(kind, tier)]
        include = ["documents", "metadatas"] + (["embeddings"] if embeddings else [])
        offset = 0
        while True:
            page = self._guard(col.get)(include=include, limit=_PAGE, offset=offset, where=where)
            if not page["ids"]:
                return
            embs = page.get("embeddings")
            yield (
                list(page["ids"]),
                list(page["documents"]),
                [dict(m or {}) for m in page["metadatas"]],
                [list(map(float, e)) for e in embs] if embeddings and embs is not None else [],
            )
            offset += len(page["ids"])

    def get_all(self, kind: str, tier: int | None = None) -> dict[str, tuple[str, Meta]]:
        out: dict[str, tuple[str, Meta]] = {}
        for ids, docs, metas, _ in self.pages(kind, tier=tier):
            out.update({i: (d, m) for i, d, m in zip(ids, docs, metas)})
        return out

    def collections(self, kind: str) -> list[int | None]:
        """The whole collection (None) and the tiers of ``kind``."""
        return [None, *self.tiers(kind)]

    def _query(self, kind: str, tier: int | None, embedding: Sequence[float], n: int, where: Meta | None) -> list[StoreHit]:
        col = self._cols[(kind, tier)]
        n = min(n, self.count(kind, tier))
        if n <= 0:
            return []
        res = self._guard(col.query)(query_embeddings=[list(embedding)], n_results=n, where=where, include=["distances"])
        return [(i, id_meta(i), max(0.0, min(1.0, 1.0 - float(dist)))) for i, dist in zip(res["ids"][0], res["distances"][0])]

    def query(
        self,
        kind: str,
        embedding: Sequence[float],
        k: int,
        as_of: int | None,
        last_chunk: int,
        keep: Callable[[Meta], bool] | None = None,
        group: Callable[[Meta], str] | None = None,
        enrich: Callable[[list[Meta]], None] | None = None,
    ) -> list[StoreHit]:
        """The nearest records of chunks ``<= as_of`` (all if None) that ``keep``
        accepts, best first: (id, :func:`id_meta`, similarity in [0, 1]). ``enrich``
        may add to the metas of each batch of hits before ``keep`` and ``group`` see
        them (e.g. a mention's name, from state.sqlite). Without ``group``, the best
        ``k``; with it, every record down to the best record of the ``k``-th distinct
        group (so the best ``k`` groups are exact)."""
        if k <= 0:
            return []
        accept = keep or (lambda m: True)

        def accept_batch(hits: list[StoreHit]) -> list[StoreHit]:
            if enrich is not None:
                enrich([h[1] for h in hits])
            return [h for h in hits if accept(h[1])]

        enough = _enough(k, group)
        if as_of is None or as_of >= last_chunk:
            return self._widening(kind, None, embedding, 2 * k + 8, None, accept_batch, enough)
        tier = next((t for t in self.tiers(kind) if as_of < tier_bound(t)), None)
        span = last_chunk + 1 if tier is None else min(tier_bound(tier), last_chunk + 1)
        share = (as_of + 1) / span
        if share >= 1 / FANOUT:
            bound = int(as_of)
            return self._widening(
                kind,
                tier,
                embedding,
                math.ceil(k * 1.6 / share) + 8,
                None,
                lambda hits: accept_batch([h for h in hits if int(h[1]["chunk"]) <= bound]),
                enough,
            )
        return self._widening(kind, tier, embedding, 2 * k + 8, {"chunk": {"$lte": int(as_of)}}, accept_batch, enough)

    def _widening(
        self,
        kind: str,
        tier: int | None,
        embedding: Sequence[float],
        n: int,
        where: Meta | None,
        accept: Callable[[list[StoreHit]], list[StoreHit]],
        enough: Callable[[list[StoreHit]], list[StoreHit] | None],
    ) -> list[StoreHit]:
        """Query ``n`` records, filter them, and ask for four times more until ``enough``
        says the answer is complete or the collection is exhausted."""
        total = self.count(kind, tier)
        while True:
            hits = self._query(kind, tier, embedding, n, where)
            found = accept(hits)
            done = enough(found)
            if done is not None:
                return done
            if len(hits) < n or n >= total:
                return found
            n *= 4


def _enough(k: int, group: Callable[[Meta], str] | None) -> Callable[[list[StoreHit]], list[StoreHit] | None]:
    """Whether a prefix of the ranked records holds the answer: the best ``k`` records
    (or the records down to the ``k``-th distinct group), plus every record tied with
    the last of them, so that ties break the same way whatever order Chroma returned
    them in. None while a record with a lower score has not been seen yet."""

    def check(found: list[StoreHit]) -> list[StoreHit] | None:
        cut = None
        if group is None:
            cut = k - 1 if len(found) >= k else None
        else:
            seen: set[str] = set()
            for j, h in enumerate(found):
                seen.add(group(h[1]))
                if len(seen) == k:
                    cut = j
                    break
        if cut is None:
            return None
        end = cut + 1
        while end < len(found) and found[end][2] >= found[cut][2] - 1e-9:
            end += 1
        return found[:end] if end < len(found) else None

    return check
