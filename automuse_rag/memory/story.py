"""StoryMemory: a story's memory on disk, read side (:class:`~automuse_rag.memory.api.StoryView`)
and write side (used by ingest and by generation).

Layout of ``$AUTOMUSE_HOME/stores/NAME``:

- ``state.sqlite``: the single source of truth (:mod:`automuse_rag.memory.schema`):
  chunks with their summaries and analyses, name mentions, relations, entity
  versions valid per chunk range, the outline and the manifest.
- ``chroma/`` (or a Chroma server): the vector index derived from it
  (:mod:`automuse_rag.memory.store`), in collections namespaced by the store id.
- ``lore.json``, ``graph.json``, ``outline.txt``, ``outline.json``, ``story.json``:
  exports stamped with the state version they came from; no reader trusts them.

Readers (:meth:`StoryMemory.open`) open ``state.sqlite`` read-only, take no lock and
write nothing. Writers (:meth:`StoryMemory.create`, under the story's lock) commit a
chunk's Chroma records first, then its rows in one SQLite transaction: a chunk
counts as done only when it is committed everywhere.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from automuse_rag.errors import StoreError
from automuse_rag.fsutil import write_json_atomic
from automuse_rag.lore.stats import Correction
from automuse_rag.lore.types import ChunkAnalysis
from automuse_rag.memory.create import fresh_state
from automuse_rag.memory.export_files import write_exports, write_outline
from automuse_rag.memory.layout import (  # re-exported: the store's names and paths
    MANIFEST as MANIFEST,
    STATE as STATE,
    check_embedder as check_embedder,
    check_name as check_name,
    check_resume as check_resume,
    initialized as initialized,
    remove_partial as remove_partial,
    same_source as same_source,
    story_dir as story_dir,
)
from automuse_rag.memory.locking import StoryLock
from automuse_rag.memory.migrate import ensure_current
from automuse_rag.memory.outline import split_outline
from automuse_rag.memory.records import Records, batch_records, embed_texts, record_texts
from automuse_rag.memory.schema import SCHEMA_VERSION, connect, user_version
from automuse_rag.memory.search import StoreReads
from automuse_rag.memory.snapshot import StorySnapshot, check_position
from automuse_rag.memory.state import StateWriter, read_corrections
from automuse_rag.memory.store import KINDS, ChromaStore
from automuse_rag.memory.types import OutlinePart
from automuse_rag.memory.views import StateReader
from automuse_rag.models.base import Embedder
from automuse_rag.models.registry import get_embedder
from automuse_rag.settings import Settings
from automuse_rag.text.types import Chunk

MANIFEST_EVERY = 1.0  # seconds between story.json exports during a run of commits
SETTLE_SCANS = 3  # scans of a collection at the end of a write run: the first, and one after each relinking


class StoryMemory:
    """A story store. Create (or reopen to write) with :meth:`create`, open to read with :meth:`open`."""

    def __init__(
        self,
        settings: Settings,
        name: str,
        db: sqlite3.Connection,
        embedder: Embedder,
        *,
        writable: bool,
        create: bool = False,
        store: ChromaStore | None = None,
    ) -> None:
        self.settings, self.name, self.embedder = settings, name, embedder
        self.dir = story_dir(settings, name)
        self.db = db
        self.writer = StateWriter(db) if writable else None
        meta = StateReader(db).meta()
        self.manifest: dict[str, Any] = json.loads(meta.get("manifest", "{}"))
        self.store_id = meta["store_id"]
        url = self.manifest.get("chroma_url") or None
        self.store = store or ChromaStore(
            name,
            self.store_id,
            (embedder.name, embedder.dimension),
            path=self.dir / "chroma",
            url=url,
            create=create,
            readonly=not writable,
        )
        self.reader = StoreReads(db, self.store, embedder)
        self._manifest_written = 0.0

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
    ) -> StoryMemory:
        """Create the store, or reopen an existing one to write (to resume): same
        embedder, source and Chroma location, else StoreError. The caller holds the
        story's lock. A store written by an older version is upgraded first.

        Creation is crash-safe: the Chroma collections are made first, then the state
        (meta and manifest) in one transaction, which is what makes the store exist; a
        run killed before that left nothing a later run has to trust, and it starts over."""
        directory = story_dir(settings, name)
        if not initialized(directory / STATE):
            return cls._create_fresh(settings, name, embedder, llm_name, source, outline, chroma_url, extra)
        db = connect(directory / STATE, readonly=False)
        try:
            ensure_current(settings, name, db, embedder, cls)
            man = json.loads(StateReader(db).meta().get("manifest", "{}"))
            check_resume(name, man, embedder, source, (extra or {}).get("source_sha1"), chroma_url)
            mem = cls(settings, name, db, embedder, writable=True)
            mem.verify_counts()
        except BaseException:
            db.close()
            raise
        mem.manifest.update(extra or {})
        mem.manifest["llm"] = llm_name
        mem.save_manifest()
        if outline is not None:
            mem.set_outline(outline)
        return mem

    @classmethod
    def _create_fresh(
        cls,
        settings: Settings,
        name: str,
        embedder: Embedder,
        llm_name: str,
        source: str,
        outline: str | None,
        chroma_url: str | None,
        extra: dict[str, Any] | None,
    ) -> StoryMemory:
        db, store = fresh_state(settings, name, embedder, llm_name, source, chroma_url, extra)
        mem = cls(settings, name, db, embedder, writable=True, store=store)
        mem.save_manifest()
        if outline is not None:
            mem.set_outline(outline)
        return mem

    @classmethod
    def open(
        cls, settings: Settings, name: str, embedder: Embedder | None = None, *, verify: bool = True, queries: bool = False
    ) -> StoryMemory:
        """Open a story to read: read-only, no lock, nothing written. StoreError (one
        line naming the fix) if it is missing, damaged, out of date or was embedded
        with another embedder than ``embedder``. ``queries``: the caller will embed a
        query, so an embedder that can (``warm``) starts loading while Chroma opens."""
        directory = story_dir(settings, name)
        if not (directory / STATE).is_file():
            if (directory / MANIFEST).is_file() or (directory / "chroma").is_dir():
                raise StoreError(
                    f"story {name}: {STATE} is missing; it cannot be repaired: automuse stories rm {name} --yes and ingest it again"
                )
            raise StoreError(f"no story {name!r} in {settings.stores_dir} (run: automuse ingest BOOK --story {name})")
        db = connect(directory / STATE, readonly=True)
        try:
            version = user_version(db)
            if version != SCHEMA_VERSION:
                raise StoreError(
                    f"story {name} was written by an older automuse-rag (store format {version}); "
                    f"run automuse repair --story {name} to upgrade it"
                    if version < SCHEMA_VERSION
                    else f"story {name} was written by a newer automuse-rag (store format {version}); upgrade automuse-rag"
                )
            man = json.loads(StateReader(db).meta().get("manifest", "{}"))
            if embedder is None:
                embedder = get_embedder(man["embedder"]["name"], settings)
            check_embedder(name, man, embedder)
            warm = getattr(embedder, "warm", None) if queries else None
            if warm is not None:
                warm()
            mem = cls(settings, name, db, embedder, writable=False)
            if verify:
                mem.verify_counts()
            return mem
        except BaseException:
            db.close()
            raise

    def close(self) -> None:
        if self.writer is not None and self._manifest_written and self.dir.is_dir():
            self._write_manifest()
        self.store.close()
        self.db.close()

    def __enter__(self) -> StoryMemory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def verify_counts(self) -> None:
        """Quick consistency check at open: the Chroma index holds at least what
        ``state.sqlite`` says it should (a full comparison is ``automuse check``)."""
        want = {"summary": self.reader.count(), "chunk": self.reader.count(), "mention": self.reader.count("mentions")}
        for kind, n in want.items():
            have = self.store.count(kind)
            if have < n:
                raise StoreError(
                    f"story {self.name}: the Chroma index has {have} of {n} {kind} records; run automuse repair --story {self.name}"
                )

    def _writer(self) -> StateWriter:
        if self.writer is None:
            raise StoreError(f"story {self.name} was opened read-only")
        return self.writer

    def save_manifest(self, **changes: Any) -> None:
        """Update the manifest (kept in ``state.sqlite``) and export ``story.json``."""
        self.manifest.update(changes)
        self.manifest["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        self._writer().set_meta(manifest=json.dumps(self.manifest, ensure_ascii=False, sort_keys=True))
        self._write_manifest()

    def manifest_export(self) -> dict[str, Any]:
        return {
            **self.manifest,
            "name": self.name,
            "store_id": self.store_id,
            "schema": SCHEMA_VERSION,
            "state_version": self.reader.version(),
            "chunks_done": self.reader.count(),
        }

    # ------------------------------------------------------------ write side

    def done_indices(self) -> set[int]:
        return set(self.reader.indices())

    def commit_chunk(self, chunk: Chunk, analysis: ChunkAnalysis) -> None:
        """Store one chunk and its analysis (idempotent), lore included."""
        self.commit_chunks([(chunk, analysis)])

    def commit_chunks(
        self, items: Sequence[tuple[Chunk, ChunkAnalysis]], vectors: Sequence[Sequence[float]] | None = None
    ) -> None:
        """Chroma records first (one embedding batch, unless ``vectors`` gives them, in
        :func:`~automuse_rag.memory.records.record_texts` order, as a corpus worker
        does), then one SQLite transaction that stores the chunks and folds them into
        the lore. Re-committing a chunk replaces it."""
        if not items:
            return
        writer = self._writer()
        summaries, records = batch_records(items)
        self.upsert_records(records, vectors)
        writer.commit([(c, a, s) for (c, a), s in zip(items, summaries)])
        self.store.grow_tiers(self.reader.last_index())
        self.manifest["chunks_done"] = self.reader.count()
        if time.monotonic() - self._manifest_written >= MANIFEST_EVERY:  # story.json stays current, cheaply
            self._write_manifest()

    def settle_index(self) -> list[str]:
        """Make sure a search finds every record written since the index was last
        settled (see ``reach.PROBE_K``): probe them, and the records found nearest to
        them, in each collection that holds them, and relink the unreachable ones.
        Called at the end of a write run; a run killed before it leaves the work to
        the next. Returns one note per collection that needed relinking."""
        since = int(self.manifest.get("index_settled", -1))
        last = self.reader.last_index()
        notes = []
        for kind in KINDS:
            written = self.store.written(kind)
            for tier in self.store.collections(kind):
                if self.store.count(kind, tier) == 0:
                    continue
                # Relinking can cut off records beyond the ones it looks at (reach.relink_sweeps),
                # so the same scan runs again after it, at most SETTLE_SCANS times in all.
                for _ in range(SETTLE_SCANS):
                    lost = self._unsettled(kind, tier, written, since, last)
                    if not lost:
                        break
                    notes.append(self.store.relink_note(kind, tier, lost))
        self.save_manifest(index_settled=last)
        return notes

    def _unsettled(self, kind: str, tier: int | None, written: set[str], since: int, last: int) -> list[str]:
        """The records of one collection that no search finds, among those of chunks
        after ``since``, those ``written`` by this process and the records nearest them."""
        lost, probed, near = (
            self.store.probe(kind, tier, where=None if since < 0 else {"chunk": {"$gt": since}})
            if since < last
            else ([], set(), set())
        )
        more = self.store.probe(kind, tier, ids=sorted(written - probed))
        lost += more[0]
        lost += self.store.probe(kind, tier, ids=sorted((near | more[2]) - probed - more[1]))[0]
        return lost

    def _write_manifest(self) -> None:
        write_json_atomic(self.dir / MANIFEST, self.manifest_export())
        self._manifest_written = time.monotonic()

    def upsert_records(self, records: Records, vectors: Sequence[Sequence[float]] | None = None) -> None:
        texts = record_texts(records)
        if vectors is not None and len(vectors) != len(texts):
            raise StoreError(f"story {self.name}: {len(vectors)} vectors given for {len(texts)} records")
        vecs = iter(self.embed(texts) if vectors is None else [list(v) for v in vectors])
        for kind, recs in records.items():
            if recs:
                embs = [next(vecs) for _ in recs]
                self.store.upsert(kind, [r[0] for r in recs], [r[1] for r in recs], [r[2] for r in recs], embs)

    def embed(self, texts: list[str]) -> list[list[float]]:
        return embed_texts(self.embedder, texts)

    def set_outline(self, text: str, parts: list[OutlinePart] | None = None, origin: str = "given") -> None:
        """Store the outline (parts default to :func:`~automuse_rag.memory.outline.split_outline`)."""
        parts = parts if parts is not None else split_outline(text)
        self._writer().set_outline(text, [p.__dict__ for p in parts], origin)
        write_outline(self)

    def has_outline(self) -> bool:
        return self.reader.outline() is not None

    def write_exports(self) -> None:
        """Rewrite lore.json, graph.json, outline.* and story.json from the state."""
        write_exports(self)

    # ------------------------------------------------------------ read side (StoryView)

    @property
    def outline(self) -> str:
        got = self.reader.outline()
        return got[0] if got else ""

    def outline_parts(self) -> list[OutlinePart]:
        got = self.reader.outline()
        return got[1] if got and got[1] else [OutlinePart(0, "", self.outline)]

    def __len__(self) -> int:
        return self.reader.count()

    def last_index(self) -> int:
        return self.reader.last_index()

    def at(self, i: int) -> StorySnapshot:
        """The story as known after chunk ``i`` (see :class:`StorySnapshot`)."""
        last = self.reader.last_index()
        at = check_position(self.name, i, last)
        got = self.reader.outline()
        text, parts = (got[0], got[1]) if got else ("", [])
        return StorySnapshot(
            self.name, at, last, self.reader, outline=text, outline_parts=tuple(parts or [OutlinePart(0, "", text)])
        )

    def latest(self) -> StorySnapshot:
        return self.at(self.reader.last_index())

    def analyses(self, upto: int | None = None) -> list[tuple[int, ChunkAnalysis]]:
        """The stored analyses of chunks ``0..upto`` (all if None): what the lore was
        resolved from (the dataset audit re-resolves them the naive way)."""
        return self.reader.analyses() if upto is None else self.reader.analyses(upto)

    def corrections(self) -> list[Correction]:
        """The writer's corrections of who is who, in the order given (``automuse characters --merge/--split``)."""
        return read_corrections(self.db)


@contextmanager
def editing(settings: Settings, name: str) -> Iterator[StoryMemory]:
    """The stored story ``name`` opened to change it in place (corrections, a lorebook)
    under its lock: its own errors (missing, an old format) first, from a read-only
    open; closed at the end, whatever happens."""
    with StoryMemory.open(settings, name, verify=False) as ro:
        embedder = ro.embedder
    directory = story_dir(settings, name)
    with StoryLock(directory, name):
        db = connect(directory / STATE, readonly=False)
        try:
            mem = StoryMemory(settings, name, db, embedder, writable=True)
        except BaseException:
            db.close()
            raise
        try:
            yield mem
        finally:
            mem.close()
