"""Read a local story's Chroma index without importing the ``chromadb`` package.

``import chromadb`` costs about a second of CPU: the package imports every embedding
function it ships (httpx, jsonschema, ...) and its telemetry before the first query.
That second is most of what is left of a one-shot ``query``, ``prompt``, ``ask`` or
``characters`` (issue 29). The engine under an embedded ``PersistentClient`` is Chroma's
own compiled module, ``chromadb_rust_bindings`` (installed with chromadb; imported in
about 0.05 s), and ``chromadb.api.rust.RustBindingsAPI`` is a thin layer over it. This
module is the same thin layer for the calls a story opened to read makes
(``list_collections``, ``get_collection``, ``count``, ``get``, ``query``), with no writes.

It is used only where it is known to behave as the package does:
- a local store opened read-only (a server, ``--chroma-url``, always goes through
  ``chromadb.HttpClient``; writers always use the package);
- a chromadb version in :data:`TESTED`, whose bindings' signatures this module follows
  (``tests/test_chroma_reader.py`` compares every read with the package's client on a
  real store, so an upgrade that changes them fails there first);
- any failure to open (another version's bindings, a database needing a migration) falls
  back to the package's client, which then reports or fixes it as before.

The data is Chroma's own: the same SQLite file and HNSW segments, opened by the same
engine, in migration-validate mode (it never changes the files).
"""

from __future__ import annotations

import importlib.util
import json
import re
import resource
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from automuse_rag.errors import StoreError

TENANT, DATABASE = "default_tenant", "default_database"  # what PersistentClient uses
#: chromadb versions whose bindings this module was checked against (major, minor).
TESTED = ((1, 5),)


def chromadb_version() -> tuple[int, int] | None:
    """(major, minor) of the installed chromadb, read from its ``__init__.py`` without
    importing it (``importlib.metadata`` scans every distribution: a third of a second)."""
    spec = importlib.util.find_spec("chromadb")
    try:
        text = Path(spec.origin).read_text(encoding="utf-8") if spec is not None and spec.origin else ""
    except OSError:
        return None
    found = re.search(r'^__version__ = "(\d+)\.(\d+)', text, re.MULTILINE)
    return (int(found.group(1)), int(found.group(2))) if found else None


class ReadOnlyCollection:
    """The reads of a ``chromadb.Collection`` a story makes, on the bindings."""

    def __init__(self, bindings: Any, model: Any) -> None:
        self._b = bindings
        self.id = str(model.id)
        self.name = str(model.name)
        self.metadata: dict[str, Any] = dict(model.metadata or {})

    def count(self) -> int:
        return int(self._b.count(self.id, TENANT, DATABASE))

    def get(
        self,
        ids: Sequence[str] | None = None,
        where: dict[str, Any] | None = None,
        limit: int | None = None,
        offset: int | None = None,
        include: Sequence[str] = ("documents", "metadatas"),
    ) -> dict[str, Any]:
        res = self._b.get(
            self.id,
            list(ids) if ids is not None else None,
            json.dumps(where) if where else None,
            limit,
            offset or 0,
            None,
            list(include),
            TENANT,
            DATABASE,
        )
        return {
            "ids": list(res.ids),
            "documents": res.documents,
            "metadatas": res.metadatas,
            "embeddings": res.embeddings,
        }

    def query(
        self,
        query_embeddings: Sequence[Sequence[float]],
        n_results: int = 10,
        where: dict[str, Any] | None = None,
        include: Sequence[str] = ("metadatas", "documents", "distances"),
    ) -> dict[str, Any]:
        vectors = [[float(x) for x in v] for v in query_embeddings]
        res = self._b.query(
            self.id, None, vectors, n_results, json.dumps(where) if where else None, None, list(include), TENANT, DATABASE
        )
        return {"ids": res.ids, "distances": res.distances, "documents": res.documents, "metadatas": res.metadatas}

    def _read_only(self, *args: Any, **kwargs: Any) -> None:
        raise StoreError(f"the Chroma collection {self.name} was opened to read")

    upsert = add = update = delete = _read_only


class ReadOnlyClient:
    """``list_collections`` / ``get_collection`` of a ``PersistentClient``, to read."""

    def __init__(self, path: Path) -> None:
        import chromadb_rust_bindings as rb

        config = rb.SqliteDBConfig(
            hash_type=rb.MigrationHash.MD5,  # chromadb's default migrations_hash_algorithm
            migration_mode=rb.MigrationMode.Validate,  # never migrate: a store to upgrade takes the package
            url=str(path / "chroma.sqlite3"),
        )
        # as RustBindingsAPI sizes its HNSW cache: 5 files per index
        cache = resource.getrlimit(resource.RLIMIT_NOFILE)[0] // 5
        self._b: Any = rb.Bindings(allow_reset=False, sqlite_db_config=config, persist_path=str(path), hnsw_cache_size=cache)

    def list_collections(self) -> list[ReadOnlyCollection]:
        return [ReadOnlyCollection(self._b, m) for m in self._b.list_collections(None, 0, TENANT, DATABASE)]

    def get_collection(self, name: str, embedding_function: Any = None) -> ReadOnlyCollection:
        return ReadOnlyCollection(self._b, self._b.get_collection(name, TENANT, DATABASE))

    def close(self) -> None:
        self._b = None


def open_reader(path: Path) -> ReadOnlyClient | None:
    """A read-only client of the local index at ``path`` on Chroma's bindings, or None
    when this chromadb is not one :data:`TESTED` or the bindings cannot open it (the
    caller then uses the package's client)."""
    if chromadb_version() not in TESTED or not (path / "chroma.sqlite3").is_file():
        return None
    try:
        return ReadOnlyClient(path)
    except Exception:  # another version's bindings, a database to migrate: the package's client decides
        return None
