"""StoryMemory: a story's memory on disk, read side (:class:`~automuse_rag.memory.api.StoryView`)
and write side (used by ingest and by generation).

Layout of ``$AUTOMUSE_HOME/stores/NAME``:

- ``state.sqlite`` (WAL): the source of truth, one row per committed chunk with its
  text, summary and analysis (:class:`~automuse_rag.memory.analysis.ChunkAnalysis`).
- ``chroma/``: the Chroma collections (or a Chroma server with ``--chroma-url``):
  summaries (``summary:00012``), raw chunks (``chunk:00012``) and entity events
  (``entity:{entity_id}@{chunk}``), all with chunk/chapter metadata.
- ``lore.json`` (entities + relations) and ``graph.json`` (node-link), rebuilt
  deterministically from all committed chunks by :meth:`StoryMemory.refresh_lore`.
- ``outline.txt`` / ``outline.json`` and ``story.json`` (the manifest).

Writes: :meth:`StoryMemory.commit_chunks` upserts a chunk's Chroma records (deterministic
ids, so a redo replaces) and *then* stores its row in SQLite in one transaction: a
chunk counts as done only when it is committed everywhere.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from automuse_rag.errors import InputError, StoreError
from automuse_rag.fsutil import write_json_atomic, write_text_atomic
from automuse_rag.memory.analysis import ChunkAnalysis
from automuse_rag.memory.api import OutlinePart
from automuse_rag.memory.graph import Relation, build_graph, save_graph
from automuse_rag.memory.relations import attach_relations
from automuse_rag.memory.resolve import resolve
from automuse_rag.memory.store import ChromaStore, mismatch_message
from automuse_rag.memory.types import ChunkRecord, Entity, Hit
from automuse_rag.models.base import Embedder
from automuse_rag.settings import Settings
from automuse_rag.text.types import Chunk

MANIFEST = "story.json"
_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,62}[A-Za-z0-9])?$")
EMBED_BATCH = 256

_SCHEMA = """
CREATE TABLE IF NOT EXISTS chunks (
    idx INTEGER PRIMARY KEY,
    id TEXT NOT NULL,
    chapter INTEGER NOT NULL,
    chapter_title TEXT NOT NULL,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    text TEXT NOT NULL,
    summary TEXT NOT NULL,
    analysis TEXT NOT NULL
);
"""


def check_name(name: str) -> str:
    if not _NAME.match(name or "") or ".." in name:
        raise InputError(
            f"bad story name {name!r}: use up to 64 letters, digits, '.', '_' or '-', starting and ending with a letter or digit"
        )
    return name


def story_dir(settings: Settings, name: str) -> Path:
    return settings.stores_dir / check_name(name)


def read_manifest(directory: Path) -> dict[str, Any]:
    try:
        return json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StoreError(f"no story at {directory} (run: automuse ingest BOOK --story {directory.name})") from None
    except (OSError, ValueError) as exc:
        raise StoreError(f"cannot read {directory / MANIFEST}: {exc}") from None


def list_stories(settings: Settings) -> list[dict[str, Any]]:
    """Manifests of every store under ``stores/`` (name order), with ``size_bytes``."""
    out = []
    root = settings.stores_dir
    if not root.is_dir():
        return out
    for d in sorted(root.iterdir()):
        if d.is_dir() and (d / MANIFEST).is_file():
            try:
                man = read_manifest(d)
            except StoreError:
                continue
            man["size_bytes"] = sum(f.stat().st_size for f in d.rglob("*") if f.is_file())
            man["path"] = str(d)
            out.append(man)
    return out


def _chunk_meta(chunk: Chunk | ChunkRecord, kind: str) -> dict[str, Any]:
    return {"chunk": chunk.index, "chapter": chunk.chapter, "kind": kind, "chunk_id": chunk.id}


class StoryMemory:
    """A story store. Create with :meth:`create`, open with :meth:`open`."""

    def __init__(self, settings: Settings, name: str, embedder: Embedder, manifest: dict[str, Any]) -> None:
        self.settings = settings
        self.name = name
        self.dir = story_dir(settings, name)
        self.embedder = embedder
        self.manifest = manifest
        url = manifest.get("chroma_url") or None
        self.store = ChromaStore(name, embedder.name, embedder.dimension, path=self.dir / "chroma", url=url)
        self._db = sqlite3.connect(self.dir / "state.sqlite", check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()
        self._entities: list[Entity] | None = None
        self._relations: list[Relation] | None = None
        self._chapters: dict[int, int] | None = None

    # ------------------------------------------------------------ lifecycle

    @classmethod
    def create(
        cls,
        settings: Settings,
        name: str,
        *,
        embedder: Embedder,
        llm_name: str,
        source: str,
        outline: str | None = None,
        chroma_url: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> "StoryMemory":
        """Create the store, or reopen an existing one with the same embedder (to
        resume). Raises StoreError if it exists with another embedder or source."""
        directory = story_dir(settings, name)
        if (directory / MANIFEST).is_file():
            man = read_manifest(directory)
            _check_embedder(name, man, embedder)
            if man.get("source") and source and man["source"] != source:
                raise StoreError(f"story {name} was ingested from {man['source']}, not {source}; use a new --story or automuse stories rm {name}")
            if chroma_url is not None and (man.get("chroma_url") or None) != (chroma_url or None):
                raise StoreError(f"story {name} keeps its collections at {man.get('chroma_url') or 'the embedded store'}, not {chroma_url}")
        else:
            directory.mkdir(parents=True, exist_ok=True)
            now = time.strftime("%Y-%m-%dT%H:%M:%S")
            man = {
                "name": name,
                "source": source,
                "created": now,
                "embedder": {"name": embedder.name, "dimension": embedder.dimension},
                "llm": llm_name,
                "chroma_url": chroma_url or None,
                "chunks_total": None,
                "chunks_done": 0,
                "complete": False,
            }
        man.update(extra or {})
        man["llm"] = llm_name
        mem = cls(settings, name, embedder, man)
        mem.save_manifest()
        if outline is not None:
            mem.set_outline(outline)
        return mem

    @classmethod
    def open(cls, settings: Settings, name: str, embedder: Embedder | None = None) -> "StoryMemory":
        """Open an existing story; ``embedder`` defaults to the one it was built with.
        StoreError if it does not exist or ``embedder`` differs from the recorded one."""
        directory = story_dir(settings, name)
        man = read_manifest(directory)
        if embedder is None:
            from automuse_rag.models.registry import get_embedder

            embedder = get_embedder(man["embedder"]["name"], settings)
        _check_embedder(name, man, embedder)
        return cls(settings, name, embedder, man)

    def close(self) -> None:
        self._db.close()

    def save_manifest(self, **changes: Any) -> None:
        self.manifest.update(changes)
        self.manifest["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        self.manifest["chunks_done"] = len(self)
        write_json_atomic(self.dir / MANIFEST, self.manifest)

    # ------------------------------------------------------------ write side

    def done_indices(self) -> set[int]:
        return {r[0] for r in self._db.execute("SELECT idx FROM chunks")}

    def commit_chunk(self, chunk: Chunk, analysis: ChunkAnalysis, *, refresh: bool = False) -> None:
        """Store one chunk and its analysis (idempotent). With ``refresh`` the lore
        (entities, graph, entity records) is rebuilt right away, as generation needs."""
        self.commit_chunks([(chunk, analysis)])
        if refresh:
            self.refresh_lore()

    def commit_chunks(self, items: Sequence[tuple[Chunk, ChunkAnalysis]]) -> None:
        """Store chunks and analyses: Chroma upserts first (one embedding batch),
        then one SQLite transaction. Re-committing a chunk replaces it."""
        if not items:
            return
        summaries = [a.summary or c.text[:300] for c, a in items]
        vecs = self.embed(summaries + [c.text for c, _ in items])
        n = len(items)
        self.store.upsert(
            "summary", [f"summary:{c.index:05d}" for c, _ in items], summaries,
            [_chunk_meta(c, "summary") for c, _ in items], vecs[:n],
        )
        self.store.upsert(
            "chunk", [f"chunk:{c.index:05d}" for c, _ in items], [c.text for c, _ in items],
            [_chunk_meta(c, "chunk") for c, _ in items], vecs[n:],
        )
        rows = [
            (c.index, c.id, c.chapter, c.chapter_title, c.start, c.end, c.text, s, json.dumps(a.to_dict(), ensure_ascii=False, sort_keys=True))
            for (c, a), s in zip(items, summaries)
        ]
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany("INSERT OR REPLACE INTO chunks VALUES (?,?,?,?,?,?,?,?,?)", rows)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        self._entities = self._relations = self._chapters = None

    def embed(self, texts: list[str]) -> list[list[float]]:
        out: list[list[float]] = []
        for i in range(0, len(texts), EMBED_BATCH):
            out.extend(self.embedder.embed(texts[i : i + EMBED_BATCH]))
        return out

    def analyses(self) -> list[tuple[int, ChunkAnalysis]]:
        rows = self._db.execute("SELECT idx, analysis FROM chunks ORDER BY idx")
        return [(i, ChunkAnalysis.from_dict(json.loads(a))) for i, a in rows]

    def refresh_lore(self) -> tuple[list[Entity], list[Relation]]:
        """Rebuild entities, relations and the graph from every committed chunk, write
        lore.json and graph.json atomically, and sync the entity collection (upsert
        new or changed events, delete stale ones)."""
        analyses = self.analyses()
        model_aliases = [(i, m.name, list(m.aliases)) for i, a in analyses for m in a.mentions if m.aliases]
        distinct = [(i, x, y) for i, a in analyses for x, y in a.distinct]
        entities, name_to_id = resolve([(i, a.mentions) for i, a in analyses], model_aliases, distinct)
        relations = _relations(analyses, name_to_id)
        attach_relations(entities, relations)
        write_json_atomic(
            self.dir / "lore.json",
            {"entities": [e.to_dict() for e in entities], "relations": [r.__dict__ for r in relations]},
        )
        save_graph(build_graph(entities, relations), self.dir / "graph.json")
        self._sync_entity_records(entities)
        self._entities, self._relations = entities, relations
        return entities, relations

    def _sync_entity_records(self, entities: list[Entity]) -> None:
        chapters = self._chapter_map()
        want: dict[str, tuple[str, dict]] = {}
        for ent in entities:
            for c in ent.mentions:
                view = ent.as_of(c)
                assert view is not None
                desc = next((d for ch, d in view.descriptions if ch == c), "")
                doc = f"{view.name} ({ent.kind})" + (f": {desc}" if desc else "")
                meta = {
                    "chunk": c, "chapter": chapters.get(c, 0), "kind": "entity", "entity_id": ent.id,
                    "entity_kind": ent.kind, "names": " | ".join(view.names()),
                }
                want[f"entity:{ent.id}@{c:05d}"] = (doc, meta)
        have = self.store.get_all("entity")
        stale = sorted(set(have) - set(want))
        changed = [i for i in sorted(want) if have.get(i) != want[i]]
        self.store.delete("entity", stale)
        for start in range(0, len(changed), EMBED_BATCH):
            ids = changed[start : start + EMBED_BATCH]
            docs = [want[i][0] for i in ids]
            self.store.upsert("entity", ids, docs, [want[i][1] for i in ids], self.embedder.embed(docs))

    def set_outline(self, text: str, parts: list[OutlinePart] | None = None) -> None:
        """Store the outline (parts default to :func:`~automuse_rag.memory.outline.split_outline`)."""
        from automuse_rag.memory.outline import split_outline

        parts = parts if parts is not None else split_outline(text)
        write_json_atomic(self.dir / "outline.json", [p.__dict__ for p in parts])
        write_text_atomic(self.dir / "outline.txt", text)

    def has_outline(self) -> bool:
        return (self.dir / "outline.txt").is_file() and (self.dir / "outline.json").is_file()

    # ------------------------------------------------------------ read side (StoryView)

    @property
    def outline(self) -> str:
        try:
            return (self.dir / "outline.txt").read_text(encoding="utf-8")
        except FileNotFoundError:
            return ""

    def outline_parts(self) -> list[OutlinePart]:
        try:
            data = json.loads((self.dir / "outline.json").read_text(encoding="utf-8"))
        except FileNotFoundError:
            return [OutlinePart(0, "", self.outline)]
        return [OutlinePart(int(p["chapter"]), p["title"], p["text"]) for p in data]

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0])

    def records(self, upto: int | None = None) -> list[ChunkRecord]:
        sql = "SELECT idx, id, chapter, chapter_title, text, summary FROM chunks"
        rows = self._db.execute(sql + " WHERE idx <= ? ORDER BY idx", (upto,)) if upto is not None else self._db.execute(sql + " ORDER BY idx")
        return [ChunkRecord(*r) for r in rows]

    def _load_lore(self) -> None:
        if self._entities is not None:
            return
        path = self.dir / "lore.json"
        if not path.is_file():
            if len(self):
                self.refresh_lore()
                return
            self._entities, self._relations = [], []
            return
        data = json.loads(path.read_text(encoding="utf-8"))
        self._entities = [Entity.from_dict(e) for e in data.get("entities", [])]
        self._relations = [Relation(**r) for r in data.get("relations", [])]

    def entities(self, as_of: int | None = None) -> list[Entity]:
        self._load_lore()
        assert self._entities is not None
        views = [e if as_of is None else e.as_of(as_of) for e in self._entities]
        return sorted((v for v in views if v is not None), key=lambda e: (-len(e.mentions), e.name, e.id))

    def relations(self, as_of: int | None = None) -> list[Relation]:
        self._load_lore()
        assert self._relations is not None
        return [r for r in self._relations if as_of is None or r.chunk <= as_of]

    def graph(self, as_of: int | None = None):
        self._load_lore()
        return build_graph(self._entities or [], self._relations or [], as_of)

    def _chapter_map(self) -> dict[int, int]:
        if self._chapters is None:
            self._chapters = dict(self._db.execute("SELECT idx, chapter FROM chunks"))
        return self._chapters

    def search(self, query: str, k: int = 8, as_of: int | None = None, kinds: tuple[str, ...] = ("summary", "entity")) -> list[Hit]:
        """Vector search over memories of chunks <= ``as_of`` (Chroma ``where`` filter).
        Entity hits are grouped by entity and carry its card as of ``as_of``."""
        if k <= 0:
            return []
        qv = self.embedder.embed([query])[0]
        where = {"chunk": {"$lte": int(as_of)}} if as_of is not None else None
        hits: list[Hit] = []
        for kind in kinds:
            if kind == "entity":
                hits.extend(self._entity_hits(qv, k, as_of, where))
                continue
            for id_, doc, meta, score in self.store.query(kind, qv, k, where):
                hits.append(Hit(id_, kind, doc, int(meta["chunk"]), int(meta.get("chapter", 0)), score, meta))
        hits.sort(key=lambda h: (-h.score, h.id))
        return hits[:k]

    def _entity_hits(self, qv: list[float], k: int, as_of: int | None, where: dict | None) -> list[Hit]:
        views = {e.id: e for e in self.entities(as_of)}
        best: dict[str, float] = {}
        for _, _, meta, score in self.store.query("entity", qv, k * 4, where):
            eid = meta.get("entity_id")
            if eid in views and score > best.get(eid, -1.0):
                best[eid] = score
        chapters = self._chapter_map()
        hits = []
        for eid, score in best.items():
            view = views[eid]
            last = max((c for c, _ in view.descriptions), default=view.last_chunk)
            hits.append(Hit(f"entity:{eid}", "entity", view.card(), last, chapters.get(last, 0), score, {"entity_id": eid, "entity_kind": view.kind}))
        return hits


def _check_embedder(name: str, manifest: dict[str, Any], embedder: Embedder) -> None:
    rec = manifest.get("embedder") or {}
    have = (str(rec.get("name")), int(rec.get("dimension") or 0))
    want = (embedder.name, int(embedder.dimension))
    if have != want:
        raise StoreError(mismatch_message(name, have, want))


def _relations(analyses: list[tuple[int, ChunkAnalysis]], name_to_id: dict[str, str]) -> list[Relation]:
    out: list[Relation] = []
    seen = set()
    for idx, a in analyses:
        for r in a.relations:
            s, t = name_to_id.get(r.get("source", "")), name_to_id.get(r.get("target", ""))
            label = " ".join(str(r.get("label", "")).split())[:60]
            if s and t and s != t and label and (s, t, label, idx) not in seen:
                seen.add((s, t, label, idx))
                out.append(Relation(s, t, label, idx, str(r.get("via", ""))))
    return out


def remove_story(settings: Settings, name: str) -> Path:
    """Delete a story's directory (and its collections on a Chroma server)."""
    import shutil

    from automuse_rag.memory.locking import StoryLock

    directory = story_dir(settings, name)
    man = read_manifest(directory)
    with StoryLock(directory, name):
        if man.get("chroma_url"):
            from automuse_rag.memory.store import drop_collections

            drop_collections(name, man["chroma_url"])
        shutil.rmtree(directory)
    return directory
