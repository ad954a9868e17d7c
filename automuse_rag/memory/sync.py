"""Making the Chroma index equal to ``state.sqlite`` (:func:`sync_chroma`), from
the records the state says it must hold (:func:`expected_records`). Used by
``automuse repair`` (:mod:`automuse_rag.memory.check`) and by the upgrade of an old
store (:mod:`automuse_rag.memory.migrate`)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Protocol

from automuse_rag.lore.types import ChunkAnalysis
from automuse_rag.memory.records import chunk_records
from automuse_rag.memory.store import KINDS, ChromaStore, Meta, tier_bound
from automuse_rag.memory.types import ChunkRecord
from automuse_rag.memory.views import StateReader


class IndexedStore(Protocol):
    """What the index's checks and resync read of a store
    (:class:`automuse_rag.memory.story.StoryMemory`, which imports this module)."""

    db: sqlite3.Connection
    store: ChromaStore

    @property
    def reader(self) -> StateReader: ...

    def embed(self, texts: list[str]) -> list[list[float]]: ...


def expected_records(mem: IndexedStore) -> dict[str, dict[str, tuple[str, Meta]]]:
    """kind -> id -> (document, metadata) that the Chroma index must hold."""
    out: dict[str, dict[str, tuple[str, Meta]]] = {k: {} for k in KINDS}
    rows = mem.db.execute("SELECT idx, id, chapter, chapter_title, text, summary, analysis FROM chunks ORDER BY idx")
    for idx, cid, chapter, title, text, summary, analysis in rows:
        rec = ChunkRecord(int(idx), cid, int(chapter), title, text, summary)
        for kind, recs in chunk_records(rec, ChunkAnalysis.from_dict(json.loads(analysis)), summary).items():
            out[kind].update({i: (d, m) for i, d, m in recs})
    return out


def same_meta(have: Meta, want: Meta) -> bool:
    return all(have.get(k) == v for k, v in want.items())


def sync_chroma(mem: IndexedStore, legacy: Sequence[str] = ()) -> list[str]:
    """Make the Chroma index equal to what ``state.sqlite`` says: upsert missing or
    different records (re-embedded, or copied from a ``legacy`` collection holding the
    same document), delete extra ones, create missing tiers. Returns notes."""
    notes: list[str] = []
    want = expected_records(mem)
    donors = _donor_embeddings(mem, legacy)
    for kind in KINDS:
        have = mem.store.get_all(kind)
        bad = {i for i, v in want[kind].items() if have.get(i) is None or have[i][0] != v[0] or not same_meta(have[i][1], v[1])}
        extra = sorted(set(have) - set(want[kind]))
        if extra:
            mem.store.delete(kind, extra)
        ids = sorted(bad)
        for start in range(0, len(ids), 512):
            part = ids[start : start + 512]
            docs = [want[kind][i][0] for i in part]
            todo = [j for j, i in enumerate(part) if (i, docs[j]) not in donors]
            vecs = dict(zip(todo, mem.embed([docs[j] for j in todo]))) if todo else {}
            embs = [donors.get((i, docs[j])) or vecs[j] for j, i in enumerate(part)]
            mem.store.upsert(kind, part, docs, [want[kind][i][1] for i in part], embs)
        if bad or extra:
            notes.append(f"Chroma {kind} records: {len(bad)} written, {len(extra)} removed")
    notes += [f"created Chroma tier {n}" for n in mem.store.grow_tiers(mem.reader.last_index())]
    for kind in KINDS:  # tiers created earlier may miss records too
        for tier in mem.store.tiers(kind):
            bound = tier_bound(tier)
            expect = {i: v for i, v in want[kind].items() if v[1]["chunk"] < bound}
            have = mem.store.get_all(kind, tier)
            if set(have) != set(expect) or any(have[i][0] != expect[i][0] for i in expect):
                mem.store.drop_tier(kind, tier)
                notes += [f"rebuilt Chroma tier {n}" for n in mem.store.grow_tiers(mem.reader.last_index())]
    for kind in KINDS:
        for collection in mem.store.collections(kind):
            lost = mem.store.probe(kind, collection)[0]
            if lost:
                notes.append(mem.store.relink_note(kind, collection, lost))
    _drop_legacy(mem, legacy)
    return notes


def _donor_embeddings(mem: IndexedStore, legacy: Iterable[str]) -> dict[tuple[str, str], list[float]]:
    """(id, document) -> embedding from old collections of the same embedded store."""
    if mem.store.url or not legacy:
        return {}
    out: dict[tuple[str, str], list[float]] = {}
    client = mem.store._client
    names = {c.name if hasattr(c, "name") else str(c) for c in client.list_collections()}
    for name in legacy:
        if name not in names:
            continue
        col = client.get_collection(name, embedding_function=None)
        meta = col.metadata or {}
        if (str(meta.get("embedder")), int(meta.get("dimension") or 0)) != tuple(mem.store.embedder):
            continue
        offset = 0
        while True:
            page = col.get(include=["documents", "embeddings"], limit=2000, offset=offset)
            if not page["ids"]:
                break
            for i, d, e in zip(page["ids"], page["documents"], page["embeddings"]):
                out[(i, d)] = [float(x) for x in e]
            offset += len(page["ids"])
    return out


def _drop_legacy(mem: IndexedStore, legacy: Iterable[str]) -> None:
    if mem.store.url:
        return  # a server's old collections may belong to other homes too
    client = mem.store._client
    names = {c.name if hasattr(c, "name") else str(c) for c in client.list_collections()}
    for name in legacy:
        if name in names:
            client.delete_collection(name)
