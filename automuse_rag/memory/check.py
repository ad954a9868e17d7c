"""``automuse check`` and ``automuse repair``: compare every derived part of a store
with ``state.sqlite``, and rebuild them from it without a model call.

Derived parts: the Chroma collections (whole and prefix tiers: ids per chunk,
documents, chunk/chapter metadata, embedder, and that a search finds each record:
``ChromaStore.probe``), the exports (``lore.json``,
``graph.json``, ``outline.*``, ``story.json``), and the lore tables themselves
(refolded from the stored analyses by repair, with the writer's corrections; check
compares the ``facts`` table with the analyses' facts). Check also reports the writer's corrections that no longer apply (memory/corrections.py).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from automuse_rag.errors import StoreError
from automuse_rag.fsutil import read_json
from automuse_rag.lore.types import ChunkAnalysis
from automuse_rag.memory.corrections import correction_problems
from automuse_rag.memory.export_files import stale_or_broken
from automuse_rag.memory.facts import fact_rows
from automuse_rag.memory.locking import StoryLock, is_locked
from automuse_rag.memory.migrate import legacy_collections, upgrade_state
from automuse_rag.memory.schema import connect, integrity_problems
from automuse_rag.memory.store import KINDS, TIERED, Meta, tier_bound
from automuse_rag.memory.story import STATE, StoryMemory, story_dir
from automuse_rag.memory.sync import IndexedStore, expected_records, same_meta, sync_chroma
from automuse_rag.models.registry import get_embedder
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


def _summarize(ids: Iterable[str], what: str) -> str:
    ids = sorted(ids)
    chunks = sorted({int(i.split(":")[1]) for i in ids if i.count(":") >= 1 and i.split(":")[1].isdigit()})
    shown = ", ".join(str(c) for c in chunks[:8]) + (", ..." if len(chunks) > 8 else "")
    return f"{len(ids)} {what}" + (f" (chunks {shown})" if chunks else "")


def chroma_problems(mem: IndexedStore, want: dict[str, dict[str, tuple[str, Meta]]]) -> list[str]:
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
            differ = {i for i in set(expect) & set(have) if have[i][0] != expect[i][0] or not same_meta(have[i][1], expect[i][1])}
            for ids, what in ((missing, "missing"), (extra, "not in state.sqlite"), (differ, "different from state.sqlite")):
                if ids:
                    problems.append(f"Chroma {name}: {_summarize(ids, 'records ' + what)}")
            lost = mem.store.probe(kind, tier)[0] if have else []
            if lost:
                problems.append(
                    f"Chroma {name}: {_summarize(lost, 'records no search finds (the index lost its links to them)')}"
                )
    return problems


def facts_problems(db: sqlite3.Connection) -> list[str]:
    """Where the ``facts`` table differs from the facts of the stored analyses."""
    want: dict[int, list[tuple[Any, ...]]] = {}
    for idx, raw in db.execute("SELECT idx, analysis FROM chunks ORDER BY idx"):
        want[int(idx)] = [tuple(r) for r in fact_rows(int(idx), ChunkAnalysis.from_dict(json.loads(raw)))]
    have: dict[int, list[tuple[Any, ...]]] = {}
    for row in db.execute("SELECT chunk, seq, name, kind, value, sentence FROM facts ORDER BY chunk, seq"):
        have.setdefault(int(row[0]), []).append(tuple(row))
    differ = sorted(c for c in set(want) | set(have) if want.get(c, []) != have.get(c, []))
    if not differ:
        return []
    shown = ", ".join(str(c) for c in differ[:8]) + (", ..." if len(differ) > 8 else "")
    return [f"state.sqlite: the facts of {len(differ)} chunks differ from their stored analyses (chunks {shown})"]


def check_story(settings: Settings, name: str) -> CheckReport:
    """Everything that differs between ``state.sqlite`` and the parts derived from it,
    one line each. Reads only."""
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
        report.problems += correction_problems(mem.db, name)
        report.problems += facts_problems(mem.db)
        report.checked.update(
            {
                "chunks": len(mem),
                "state_version": mem.reader.version(),
                "store_id": mem.store_id,
                "collections": mem.store.names(),
                "records": {k: len(v) for k, v in want.items()},
                "embedder": mem.manifest.get("embedder"),
                "corrections": len(mem.corrections()),
                "facts": int(mem.db.execute("SELECT COUNT(*) FROM facts").fetchone()[0]),
            }
        )
    finally:
        mem.close()
    return report


def repair_story(settings: Settings, name: str, embedder_spec: str | None = None) -> list[str]:
    """Rebuild every derived part of a store from ``state.sqlite`` (no model calls):
    upgrade an old format, refold the lore, resync Chroma, rewrite the exports."""
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
    try:
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
    except Exception:
        meta = {}
    recorded = (json.loads(meta.get("manifest", "{}")).get("embedder") or {}).get("name")
    if recorded is None:
        old = read_json(story_dir(settings, name) / "story.json")
        recorded = ((old or {}).get("embedder") or {}).get("name") if isinstance(old, dict) else None
    if recorded and spec and spec != recorded:
        raise StoreError(f"story {name} was embedded with {recorded}, not {spec}")
    chosen = recorded or spec
    if not chosen:
        raise StoreError(
            f"story {name}: its embedder is not recorded anywhere; run automuse repair --story {name} --embedder NAME"
        )
    return get_embedder(chosen, settings)
