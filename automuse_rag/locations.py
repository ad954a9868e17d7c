"""Checks of user-given places, made before any work starts: the home directory, a
Chroma server URL and the files or directories a command will write.

Each raises :class:`~automuse_rag.errors.InputError` with one line that says what is
wrong and how to fix it, and none of them creates anything: a command that fails
here leaves no store, lock or output behind.

Output files: an existing *directory* given where a file is expected is refused (with
a suggested file name) rather than silently written into, so ``--out`` always names
the file that is written. Missing parent directories are fine (the writer creates
them); a parent that is a regular file, or not writable, is refused.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from automuse_rag.errors import InputError

CHROMA_SCHEMES = ("http", "https")


def check_chroma_url(url: str | None, option: str = "--chroma-url / AUTOMUSE_CHROMA_URL") -> str | None:
    """``url`` if it is a usable Chroma server address (``http(s)://HOST[:PORT]`` or
    ``HOST:PORT``), None for no URL; InputError for a malformed one. Whether the
    server answers is checked when the store opens."""
    if url is None:
        return None
    text = url.strip()
    if not text:
        return None
    example = "e.g. http://127.0.0.1:8000"
    if any(c.isspace() or ord(c) < 32 for c in text):
        raise InputError(f"bad Chroma URL {url!r} in {option}: it contains spaces or control characters ({example})")
    full = text if "://" in text else f"http://{text}"
    try:
        parts = urlsplit(full)
        port = parts.port
    except ValueError as exc:  # "Invalid IPv6 URL", "Port out of range 0-65535", a non-numeric port
        raise InputError(f"bad Chroma URL {url!r} in {option}: {exc} ({example})") from None
    if parts.scheme.lower() not in CHROMA_SCHEMES:
        raise InputError(f"bad Chroma URL {url!r} in {option}: the scheme must be http or https ({example})")
    if not parts.hostname:
        raise InputError(f"bad Chroma URL {url!r} in {option}: no host ({example})")
    if port is not None and not 1 <= port <= 65535:
        raise InputError(f"bad Chroma URL {url!r} in {option}: port {port} is outside 1-65535 ({example})")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username or parts.password:
        raise InputError(f"bad Chroma URL {url!r} in {option}: give only scheme, host and port ({example})")
    return text


def _first_existing(path: Path) -> Path:
    """``path`` or its nearest existing ancestor."""
    for candidate in (path, *path.parents):
        if os.path.lexists(candidate):
            return candidate
    return Path(path.anchor or ".")


def check_home(home: Path, option: str = "--home / AUTOMUSE_HOME") -> Path:
    """``home`` if it is (or can become) a directory: it and its nearest existing
    ancestor must be directories."""
    home = Path(home).expanduser()
    existing = _first_existing(home.absolute())
    if not existing.is_dir():
        what = "is a file" if existing.exists() else "is not a directory"
        where = "" if existing == home.absolute() else f" ({existing} {what})"
        raise InputError(f"{option} {home} cannot be a directory{where}; point it at a directory")
    return home


def _check_parent(path: Path, option: str) -> None:
    existing = _first_existing(path.absolute().parent)
    if not existing.is_dir():
        raise InputError(f"{option} {path}: {existing} is a file, not a directory; choose another path")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(f"{option} {path}: cannot write in {existing} (permission denied); choose another path")


def check_output_file(path: Path | str, option: str = "--out", suggest: str | None = None) -> Path:
    """``path`` (expanded) if a file can be written there: not an existing directory,
    not under a regular file, in a writable place. ``suggest`` is a file name offered
    when ``path`` is a directory (e.g. ``clocks.epub``)."""
    path = Path(path).expanduser()
    if str(path).strip() == "":
        raise InputError(f"{option} is empty; give a file path")
    if path.is_dir():
        hint = f", e.g. {path / suggest}" if suggest else ""
        raise InputError(f"{option} {path} is a directory; give a file path{hint}")
    if path.exists() and not path.is_file():
        raise InputError(f"{option} {path} exists and is not a regular file; choose another path")
    _check_parent(path, option)
    return path


def check_output_dir(path: Path | str, option: str = "--out") -> Path:
    """``path`` (expanded) if it is, or can become, a writable directory."""
    path = Path(path).expanduser()
    if str(path).strip() == "":
        raise InputError(f"{option} is empty; give a directory")
    if path.exists() and not path.is_dir():
        raise InputError(f"{option} {path} is a file, not a directory; give a directory for the report")
    existing = _first_existing(path.absolute())
    if not existing.is_dir():
        raise InputError(f"{option} {path}: {existing} is a file, not a directory; choose another path")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(f"{option} {path}: cannot write in {existing} (permission denied); choose another path")
    return path
