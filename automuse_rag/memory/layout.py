"""Where a story lives and how its directory is judged: names, paths, whether a
store was ever created, and what a writer checks before reopening one."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

from automuse_rag.errors import InputError, StoreError
from automuse_rag.memory.store import mismatch_message
from automuse_rag.models.base import Embedder
from automuse_rag.settings import Settings

MANIFEST = "story.json"
STATE = "state.sqlite"
_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,62}[A-Za-z0-9])?")


def check_name(name: str) -> str:
    if not name:
        raise InputError("the story name is empty: give --story NAME (letters, digits, '.', '_' or '-')")
    if not isinstance(name, str) or not _NAME.fullmatch(name) or ".." in name:  # fullmatch: "$" would accept a final newline
        raise InputError(
            f"bad story name {name!r}: use up to 64 letters, digits, '.', '_' or '-', starting and ending with a letter or digit"
        )
    return name


def story_dir(settings: Settings, name: str) -> Path:
    return settings.stores_dir / check_name(name)


def check_embedder(name: str, manifest: dict[str, Any], embedder: Embedder) -> None:
    rec = manifest.get("embedder") or {}
    have = (str(rec.get("name")), int(rec.get("dimension") or 0))
    want = (embedder.name, int(embedder.dimension))
    if have != want:
        raise StoreError(mismatch_message(name, have, want))


def same_source(manifest: dict[str, Any], source: str, sha1: str | None) -> bool:
    """Whether ``source`` is the book the story was made from: the same text (by hash)
    when both are known, else the same file name (a checkout may have moved)."""
    old = manifest.get("source")
    if not old or not source or old == source:
        return True
    if sha1 and manifest.get("source_sha1"):
        return bool(manifest["source_sha1"] == sha1)
    if old.startswith("premise:") or source.startswith("premise:"):
        return False
    return Path(old).name == Path(source).name


def initialized(state: Path) -> bool:
    """Whether ``state.sqlite`` holds a store (one created by any version): its
    creating transaction committed, or it is a format-0 store (a ``chunks`` table)."""
    if not state.is_file():
        return False
    try:
        db = sqlite3.connect(f"file:{state}?mode=ro", uri=True)
        try:
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if "meta" in tables:
                return db.execute("SELECT 1 FROM meta WHERE key = 'store_id'").fetchone() is not None
            return "chunks" in tables
        finally:
            db.close()
    except sqlite3.DatabaseError:
        return True  # a damaged database is reported when it is opened, never silently replaced


def remove_partial(directory: Path) -> None:
    """Remove what a store creation that never committed left: its state file and its
    embedded Chroma directory (never anything else: a generated story's plan files
    live in the same directory)."""
    import shutil

    for name in (STATE, STATE + "-journal"):
        (directory / name).unlink(missing_ok=True)
    shutil.rmtree(directory / "chroma", ignore_errors=True)


def check_resume(
    name: str, manifest: dict[str, Any], embedder: Embedder, source: str, sha1: str | None, chroma_url: str | None
) -> None:
    """Refuse to write to story ``name`` with another embedder, book or Chroma location."""
    check_embedder(name, manifest, embedder)
    if not same_source(manifest, source, sha1):
        raise StoreError(
            f"story {name} was ingested from {manifest['source']}, not {source}; use a new --story or automuse stories rm {name}"
        )
    if chroma_url is not None and (manifest.get("chroma_url") or None) != (chroma_url or None):
        raise StoreError(
            f"story {name} keeps its collections at {manifest.get('chroma_url') or 'the embedded store'}, not {chroma_url}"
        )
