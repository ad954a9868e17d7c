"""``automuse check`` and ``automuse repair``: compare every derived part of a store
with ``state.sqlite``, and rebuild them from it without a model call.

Derived parts: the Chroma collections (whole and prefix tiers: ids per chunk,
documents, chunk/chapter metadata, embedder, and that a search finds each record:
``ChromaStore.probe``), the exports (``lore.json``,
``graph.json``, ``outline.*``, ``story.json``), and the lore tables themselves
(refolded from the stored analyses by repair).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from automuse_rag.errors import StoreError
from automuse_rag.memory.store import KINDS, TIERED, Meta, tier_bound
from automuse_rag.settings import Settings


@dataclass
class CheckReport:
    story: str
    problems: list[str] = field(default_factory=list)
    checked: dict[str, Any] = field(default_factory=dict)

    @property
    def healthy(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {"story": self.story, "healthy": self.healthy, "problems": self.problems, "checked": self.checked}


def expected_records(mem: Any) -> dict[str, dict[str, tuple[str, Meta]]]:
    """kind -> id -> (document, metadata) that the Chroma index must hold."""
    import json

    from automuse_rag.lore.types import ChunkAnalysis
    from automuse_rag.memory.records import chunk_records

    out: dict[str, dict[str, tuple[str, Meta]]] = {k: {} for k in KINDS}
    rows = mem.db.execute("SELECT idx, id, chapter, chapter_title, text, summary, analysis FROM chunks ORDER BY idx")
    from automuse_rag.memory.types import ChunkRecord

    for idx, cid, chapter, title, text, summary, analysis in rows:
        rec = ChunkRecord(int(idx), cid, int(chapter), title, text, summary)
        for kind, recs in chunk_records(rec, ChunkAnalysis.from_dict(json.loads(analysis)), summary).items():
            out[kind].update({i: (d, m) for i, d, m in recs})
    return out


def _summarize(ids: Iterable[str], what: str) -> str:
    ids = sorted(ids)
    chunks = sorted({int(i.split(":")[1]) for i in ids if i.count(":") >= 1 and i.split(":")[1].isdigit()})
    shown = ", ".join(str(c) for c in chunks[:8]) + (", ..." if len(chunks) > 8 else "")
    return f"{len(ids)} {what}" + (f" (chunks {shown})" if chunks else "")


def _same_meta(have: Meta, want: Meta) -> bool:
    return all(have.get(k) == v for k, v in want.items())


def chroma_problems(mem: Any, want: dict[str, dict[str, tuple[str, Meta]]]) -> list[str]:
    problems = []
    last = mem.reader.last_index()
    for kind in KINDS:
        targets: list[int | None] = [None] + [t for t in range(8) if kind in TIERED and last >= tier_bound(t)]
        for tier in targets:
            name = f"{kind} collection" + ("" if tier is None else f" tier {tier} (chunks < {tier_bound(tier)})")
            if tier is not None and tier not in mem.store.tiers(kind):
                problems.append(f"Chroma {name} is missing")
                continue
            expect = {i: v for i, v in want[kind].items() if tier is None or v[1]["chunk"] < tier_bound(tier)}
            have = mem.store.get_all(kind, tier)
            missing = set(expect) - set(have)
            extra = set(have) - set(expect)
            differ = {
                i for i in set(expect) & set(have) if have[i][0] != expect[i][0] or not _same_meta(have[i][1], expect[i][1])
            }
            for ids, what in ((missing, "missing"), (extra, "not in state.sqlite"), (differ, "different from state.sqlite")):
                if ids:
                    problems.append(f"Chroma {name}: {_summarize(ids, 'records ' + what)}")
            lost = mem.store.probe(kind, tier)[0] if have else []
            if lost:
                problems.append(
                    f"Chroma {name}: {_summarize(lost, 'records no search finds (the index lost its links to them)')}"
                )
    return problems


def check_story(settings: Settings, name: str) -> CheckReport:
    """Everything that differs between ``state.sqlite`` and the parts derived from it,
    one line each. Reads only."""
    from automuse_rag.memory.export_files import stale_or_broken
    from automuse_rag.memory.locking import is_locked
    from automuse_rag.memory.schema import integrity_problems
    from automuse_rag.memory.story import StoryMemory, story_dir

    report = CheckReport(name)
    directory = story_dir(settings, name)
    if is_locked(directory, name):
        report.checked["note"] = "a writer holds the story's lock: it may change while being checked"
    try:
        mem = StoryMemory.open(settings, name, verify=False)
    except StoreError as exc:
        report.problems.append(str(exc))
        return report
    try:
        report.problems += [f"state.sqlite: {p}" for p in integrity_problems(mem.db)]
        want = expected_records(mem)
        report.problems += chroma_problems(mem, want)
        report.problems += stale_or_broken(mem)
        report.checked.update(
            {
                "chunks": len(mem),
                "state_version": mem.reader.version(),
                "store_id": mem.store_id,
                "collections": mem.store.names(),
                "records": {k: len(v) for k, v in want.items()},
                "embedder": mem.manifest.get("embedder"),
            }
        )
    finally:
        mem.close()
    return report


def sync_chroma(mem: Any, legacy: Sequence[str] = ()) -> list[str]:
    """Make the Chroma index equal to what ``state.sqlite`` says: upsert missing or
    different records (re-embedded, or copied from a ``legacy`` collection holding the
    same document), delete extra ones, create missing tiers. Returns notes."""
    notes: list[str] = []
    want = expected_records(mem)
    donors = _donor_embeddings(mem, legacy)
    for kind in KINDS:
        have = mem.store.get_all(kind)
        bad = {i for i, v in want[kind].items() if have.get(i) is None or have[i][0] != v[0] or not _same_meta(have[i][1], v[1])}
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
        for tier in mem.store.collections(kind):
            lost = mem.store.probe(kind, tier)[0]
            if lost:
                notes.append(mem.store.relink_note(kind, tier, lost))
    _drop_legacy(mem, legacy)
    return notes


def _donor_embeddings(mem: Any, legacy: Iterable[str]) -> dict[tuple[str, str], list[float]]:
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


def _drop_legacy(mem: Any, legacy: Iterable[str]) -> None:
    if mem.store.url:
        return  # a server's old collections may belong to other homes too
    client = mem.store._client
    names = {c.name if hasattr(c, "name") else str(c) for c in client.list_collections()}
    for name in legacy:
        if name in names:
            client.delete_collection(name)


def repair_story(settings: Settings, name: str, embedder_spec: str | None = None) -> list[str]:
    """Rebuild every derived part of a store from ``state.sqlite`` (no model calls):
    upgrade an old format, refold the lore, resync Chroma, rewrite the exports."""
    from automuse_rag.memory.locking import StoryLock
    from automuse_rag.memory.migrate import legacy_collections, upgrade_state
    from automuse_rag.memory.schema import connect
    from automuse_rag.memory.story import STATE, StoryMemory, story_dir

    directory = story_dir(settings, name)
    if not (directory / STATE).is_file():
        raise StoreError(
            f"story {name}: {STATE} is missing, so there is nothing to rebuild from; "
            f"remove it with automuse stories rm {name} --yes and ingest it again"
        )
    with StoryLock(directory, name):
        db = connect(directory / STATE, readonly=False)
        try:
            embedder = _embedder_for(settings, db, name, embedder_spec)
            notes = upgrade_state(settings, name, db, embedder)
            mem = StoryMemory(settings, name, db, embedder, writable=True, create=True)
            assert mem.writer is not None
            mem.writer.rebuild_lore()
            notes += sync_chroma(mem, legacy=legacy_collections(name))
            mem.write_exports()
            notes.append(f"rewrote the exports (state version {mem.reader.version()})")
        finally:
            db.close()
    return notes


def _embedder_for(settings: Settings, db: Any, name: str, spec: str | None) -> Any:
    import json

    from automuse_rag.memory.migrate import _json
    from automuse_rag.memory.story import story_dir
    from automuse_rag.models.registry import get_embedder

    try:
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
    except Exception:
        meta = {}
    recorded = (json.loads(meta.get("manifest", "{}")).get("embedder") or {}).get("name")
    if recorded is None:
        old = _json(story_dir(settings, name) / "story.json")
        recorded = ((old or {}).get("embedder") or {}).get("name") if isinstance(old, dict) else None
    if recorded and spec and spec != recorded:
        raise StoreError(f"story {name} was embedded with {recorded}, not {spec}")
    chosen = recorded or spec
    if not chosen:
        raise StoreError(
            f"story {name}: its embedder is not recorded anywhere; run automuse repair --story {name} --embedder NAME"
        )
    return get_embedder(chosen, settings)
