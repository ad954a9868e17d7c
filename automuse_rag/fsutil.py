"""Atomic file writes: a temp file in the same directory, flushed and fsynced, then
``os.replace``, then an fsync of the directory so the rename itself survives a power
cut. A reader (or a run killed half way) sees the old file or the new one, never half
of one.

New files get the permissions ``open()`` would give them (0666 minus the umask), not
the 0600 of ``tempfile.mkstemp``; replacing an existing file keeps its mode.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def fsync_dir(directory: Path) -> None:
    """Flush a directory's entries (a rename or a new file) to disk; a no-op where the
    platform or file system cannot open or sync directories."""
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _temp_file(path: Path) -> tuple[int, Path]:
    """A new, exclusive temp file beside ``path``: mode 0666 filtered by the umask (the
    kernel applies it), or the mode of the file it will replace."""
    for _ in range(100):
        tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
        except FileExistsError:
            continue
        try:
            os.chmod(tmp, os.stat(path).st_mode & 0o7777)
        except FileNotFoundError:
            pass
        except OSError:
            pass  # keep the umask default if the old mode cannot be copied
        return fd, tmp
    raise FileExistsError(f"cannot create a temp file beside {path}")  # pragma: no cover


def _commit(tmp: Path, path: Path) -> None:
    os.replace(tmp, path)
    fsync_dir(path.parent)


def write_bytes_atomic(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _temp_file(path)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        _commit(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def read_json(path: Path) -> Any:
    """The JSON in ``path``; None if it cannot be read or parsed."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_json_atomic(path: Path, data: Any, *, indent: int | None = 1) -> None:
    """JSON with sorted keys (so the same data gives the same bytes)."""
    write_text_atomic(path, json.dumps(data, ensure_ascii=False, indent=indent, sort_keys=True))


def files_fingerprint(files: list[Path], key: str, index_file: Path) -> str:
    """SHA-256 of ``files`` (names and contents, in order), remembered under ``key`` in
    the JSON ``index_file`` with their sizes and mtimes: a file is hashed again only
    when one of them changes. Hashing a model's 100 MB costs more than using it once."""
    stamp = ";".join(f"{f.name}={f.stat().st_size}:{f.stat().st_mtime_ns}" for f in files)
    index = read_json(index_file)
    index = index if isinstance(index, dict) else {}
    known = index.get(key)
    if isinstance(known, dict) and known.get("stamp") == stamp and isinstance(known.get("sha256"), str):
        return str(known["sha256"])
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.name.encode() + b"\0")
        with open(f, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    index[key] = {"stamp": stamp, "sha256": digest.hexdigest()}
    write_json_atomic(index_file, index)
    return digest.hexdigest()


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """For writers that want a file name (networkx, ebooklib, matplotlib): yields a temp
    path beside ``path``; when the block ends without an exception the file is fsynced
    and renamed over ``path``, otherwise it is removed. The writer must keep the name
    (overwrite the file in place), which ``open(..., "w")`` does."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _temp_file(path)
    os.close(fd)
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        _commit(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class JsonlWriter:
    """A JSONL file written line by line under a temporary name, renamed over ``path``
    when the block ends without an error (unless :meth:`discard` was called)."""

    def __init__(self, path: Path) -> None:
        self.path, self.tmp, self.count = path, path.with_name(path.name + ".tmp"), 0
        self._fh: Any = None
        self._keep = True

    def __enter__(self) -> JsonlWriter:
        self._fh = self.tmp.open("w", encoding="utf-8")
        return self

    def write(self, record: str) -> None:
        self._fh.write(record + "\n")
        self.count += 1

    def discard(self) -> None:
        self._keep = False

    def __exit__(self, et: type[BaseException] | None, *exc: object) -> None:
        self._fh.close()
        if et is None and self._keep:
            os.replace(self.tmp, self.path)
        self.tmp.unlink(missing_ok=True)
