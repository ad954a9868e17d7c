"""The stores under ``$AUTOMUSE_HOME/stores``: listing them (damaged ones included)
and removing one (its Chroma collections too, and only its own)."""

from __future__ import annotations

import fnmatch
import json
import shutil
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from automuse_rag.errors import InputError, StoreError
from automuse_rag.fsutil import write_json_atomic
from automuse_rag.memory.locking import StoryBusyError, StoryLock
from automuse_rag.memory.schema import FOREVER, SCHEMA_VERSION, connect, user_version
from automuse_rag.memory.state import StateWriter
from automuse_rag.memory.store import connect as chroma_client
from automuse_rag.memory.story import MANIFEST, STATE, story_dir
from automuse_rag.memory.views import StateReader
from automuse_rag.settings import Settings


class EmbedderInfo(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str
    dimension: int | None = None


class Manifest(BaseModel):
    """The fields of a manifest (:func:`read_manifest`) that code reads; other keys are kept."""

    model_config = ConfigDict(extra="allow")

    name: str | None = None
    source: str | None = None
    embedder: EmbedderInfo | None = None
    llm: str | None = None
    chroma_url: str | None = None
    store_id: str | None = None
    generated: bool = False
    complete: bool = False
    chunks_total: int | None = None
    chunks_done: int | None = None
    problem: str | None = None

    @classmethod
    def read(cls, directory: Path) -> Manifest:
        """:func:`read_manifest` as a model (StoreError if no manifest reads)."""
        try:
            return cls.model_validate(read_manifest(directory))
        except ValidationError as exc:
            raise StoreError(f"story {directory.name}: its manifest is damaged ({exc.errors()[0].get('msg')})") from None


def read_manifest(directory: Path) -> dict[str, Any]:
    """A story's manifest, from ``state.sqlite`` (the ``story.json`` export is only a
    fallback for a store whose database is unreadable). StoreError if neither reads."""
    if not directory.is_dir():
        raise StoreError(
            f"no story {directory.name!r} in {directory.parent} (run: automuse ingest BOOK --story {directory.name})"
        )
    problem = None
    try:
        db = connect(directory / STATE, readonly=True)
    except StoreError as exc:
        db, problem = None, str(exc)
    if db is not None:
        try:
            meta = dict(db.execute("SELECT key, value FROM meta").fetchall()) if user_version(db) >= 1 else {}
            version = user_version(db)
            chunks = int(db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0])
            entities = (
                int(db.execute("SELECT COUNT(*) FROM entity_versions WHERE until = ?", (FOREVER,)).fetchone()[0])
                if version >= 1
                else None
            )
        except Exception as exc:  # sqlite3.DatabaseError and friends
            raise StoreError(f"story {directory.name}: {STATE} is damaged ({exc})") from None
        finally:
            db.close()
        if meta:
            man: dict[str, Any] = json.loads(meta.get("manifest", "{}"))
            man.update({"store_id": meta.get("store_id"), "chunks_done": chunks, "entities": entities, "schema": version})
            return man
        legacy = _json(directory / MANIFEST)
        if legacy is not None:
            legacy.update({"chunks_done": chunks, "schema": version, "entities": None})
            return legacy
    legacy = _json(directory / MANIFEST)
    if legacy is None:
        raise StoreError(problem or f"no readable story at {directory} ({STATE} and {MANIFEST} are missing or damaged)")
    legacy["problem"] = problem
    return legacy


def _json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def list_stories(settings: Settings) -> list[dict[str, Any]]:
    """Manifests of every store under ``stores/`` (name order) with ``size_bytes``
    and ``path``; a damaged store is listed with ``problem`` set."""
    out: list[dict[str, Any]] = []
    root = settings.stores_dir
    if not root.is_dir():
        return out
    for d in sorted(root.iterdir()):
        if not d.is_dir() or d.name.startswith("."):
            continue
        try:
            man = read_manifest(d)
            if not man.get("problem") and man.get("schema", 0) != SCHEMA_VERSION:
                man["problem"] = f"old store format: run automuse repair --story {d.name}"
        except StoreError as exc:
            man = {"name": d.name, "problem": str(exc)}
        man.setdefault("name", d.name)
        man["size_bytes"] = sum(f.stat().st_size for f in d.rglob("*") if f.is_file())
        man["path"] = str(d)
        out.append(man)
    return out


def remove_story(settings: Settings, name: str) -> list[str]:
    """Delete a story's directory and its collections on a Chroma server (its own
    only, found by its store id). Works on a damaged store. Returns notes to print."""
    directory = story_dir(settings, name)
    if not directory.is_dir():
        raise StoreError(f"no story {name!r} in {settings.stores_dir}")
    notes: list[str] = []
    with StoryLock(directory, name):
        try:
            man = read_manifest(directory)
        except StoreError:
            man = {}
        url, store_id = man.get("chroma_url"), man.get("store_id")
        if url and store_id:
            notes += drop_server_collections(url, store_id)
        elif url:
            notes.append(f"its collections on {url} could not be identified (old or damaged store); they were left there")
        shutil.rmtree(directory)
    return notes


def drop_server_collections(url: str, store_id: str) -> list[str]:
    """Remove every collection named ``am-<store_id>-*`` from a Chroma server."""
    client = chroma_client(None, url, create=False)
    prefix = f"am-{store_id}-"
    dropped = []
    for col in client.list_collections():
        name = col.name if hasattr(col, "name") else str(col)
        if name.startswith(prefix):
            client.delete_collection(name)
            dropped.append(name)
    return [f"removed {len(dropped)} collections from {url}"] if dropped else []


def update_manifest(settings: Settings, name: str, change: Any, wait: float = 10.0) -> dict[str, Any]:
    """Apply ``change(manifest)`` to a story's manifest in ``state.sqlite`` and export
    ``story.json`` again, holding the story's lock (waiting up to ``wait`` seconds for
    a writer to finish). Returns the new manifest."""
    import time

    directory = story_dir(settings, name)
    read_manifest(directory)  # a clear error for a missing story, before taking its lock
    lock = StoryLock(directory, name)
    deadline = time.monotonic() + wait
    while True:
        try:
            lock.acquire()
            break
        except StoryBusyError:
            if time.monotonic() > deadline:
                raise StoreError(f"story {name} is busy (another automuse process holds it); try again when it is done") from None
            time.sleep(0.2)
    try:
        db = connect(directory / STATE, readonly=False)
        try:
            if user_version(db) != SCHEMA_VERSION:
                raise StoreError(f"story {name} uses an older store format; run automuse repair --story {name} first")
            reader = StateReader(db)
            meta = reader.meta()
            manifest: dict[str, Any] = json.loads(meta.get("manifest", "{}"))
            change(manifest)
            StateWriter(db).set_meta(manifest=json.dumps(manifest, ensure_ascii=False, sort_keys=True))
            export = {
                **manifest,
                "name": name,
                "store_id": meta.get("store_id"),
                "schema": SCHEMA_VERSION,
                "state_version": reader.version(),
                "chunks_done": reader.count(),
            }
            write_json_atomic(directory / MANIFEST, export)
            return manifest
        finally:
            db.close()
    finally:
        lock.release()


def select_stories(settings: Settings, patterns: list[str], every: bool = False) -> list[tuple[str, int]]:
    """The stories ``patterns`` name, each once, with their chunk counts: a name as
    given (a :class:`StoreError` if there is no such story), a glob (``pg1*``) the
    finished stories it matches, and ``every`` all finished stories. A glob that
    matches none is an :class:`InputError`."""
    listed = {m["name"]: m for m in list_stories(settings) if not m.get("problem")}
    finished = [n for n, m in listed.items() if m.get("complete")]
    out: dict[str, int] = {}
    for name in finished if every else []:
        out[name] = int(listed[name].get("chunks_done") or 0)
    for pattern in patterns:
        if any(c in pattern for c in "*?["):
            matched = [n for n in finished if fnmatch.fnmatchcase(n, pattern)]
            if not matched:
                raise InputError(f"no finished story matches {pattern!r} (see automuse stories list)")
            for name in matched:
                out.setdefault(name, int(listed[name].get("chunks_done") or 0))
            continue
        if not (story_dir(settings, pattern) / STATE).is_file():
            raise StoreError(f"no story {pattern!r} in {settings.stores_dir} (run: automuse ingest BOOK --story {pattern})")
        out.setdefault(pattern, int((listed.get(pattern) or {}).get("chunks_done") or 0))
    return list(out.items())
