"""The Chroma client of a story store: local (``PersistentClient``) or a server
(``HttpClient``), the server URL's checks, the guard that turns a Chroma failure into
one :class:`StoreError` line, and the types of what the store reads back."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from automuse_rag.errors import StoreError
from automuse_rag.memory.chroma_reader import open_reader

#: A record's metadata in Chroma (chunk index, kind, entity id, ...).
Meta = dict[str, Any]
#: A query hit: (id, what its id says (see ``store.id_meta``), similarity in [0, 1]).
StoreHit = tuple[str, Meta, float]
#: One page of records: ids, documents, metadatas, embeddings (empty unless asked for).
Page = tuple[list[str], list[str], list[Meta], list[list[float]]]


def parse_chroma_url(url: str) -> tuple[str, int, bool]:
    """(host, port, ssl) of a Chroma server URL; StoreError if it cannot be one."""
    try:
        parsed = urlparse(url if "://" in url else f"http://{url}")
        port = parsed.port
    except ValueError as exc:
        raise StoreError(f"bad Chroma URL {url!r} ({exc}); use e.g. http://127.0.0.1:8000") from None
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise StoreError(f"bad Chroma URL {url!r}; use e.g. http://127.0.0.1:8000")
    return parsed.hostname, port or (443 if parsed.scheme == "https" else 8000), parsed.scheme == "https"


def connect(path: Path | None, url: str | None, *, create: bool, readonly: bool = False) -> Any:
    """A Chroma client: ``HttpClient`` for ``url`` (checked with a heartbeat), else a
    ``PersistentClient`` at ``path``. With ``create=False`` a missing local directory
    is an error instead of a new empty database. ``readonly``: the caller only reads,
    so a local index may be read on Chroma's bindings without importing the package
    (memory/chroma_reader.py)."""
    if readonly and not url and not create and path is not None:
        reader = open_reader(path)
        if reader is not None:
            return reader
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    settings = ChromaSettings(anonymized_telemetry=False)
    if url:
        host, port, ssl = parse_chroma_url(url)
        try:
            client = chromadb.HttpClient(host=host, port=port, ssl=ssl, settings=settings)
            client.heartbeat()
        except Exception as exc:  # connection refused, DNS, TLS, timeouts...
            raise StoreError(f"cannot reach the Chroma server at {url}: {type(exc).__name__}") from None
        return client
    assert path is not None
    if not (path / "chroma.sqlite3").is_file():
        if not create:
            raise StoreError(
                f"story {path.parent.name}: its Chroma index ({path}) is missing; run automuse repair --story {path.parent.name}"
            )
        # Chroma caches one client per path in a process; one for a directory since
        # deleted would write nowhere.
        from chromadb.api.shared_system_client import SharedSystemClient

        SharedSystemClient.clear_system_cache()
    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=settings)


def guard(what: str, url: str | None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Turn a Chroma failure (server gone mid-run, damaged index) into one StoreError line."""

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except StoreError:
                raise
            except Exception as exc:
                where = f"the Chroma server at {url}" if url else "the embedded Chroma index"
                detail = " ".join(str(exc).split())[:160]
                raise StoreError(f"{what} failed on {where}: {type(exc).__name__}: {detail}") from None

        return wrapper

    return deco
