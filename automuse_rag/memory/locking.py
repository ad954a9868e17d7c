"""One writer per story: an exclusive ``fcntl.flock`` on ``stores/NAME/.lock``.

The kernel releases the lock when the process dies (SIGKILL included), so a crashed
ingest never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

from automuse_rag.errors import StoreError


class StoryLock:
    """``with StoryLock(dir, name): ...`` or ``acquire()`` / ``release()``."""

    def __init__(self, directory: Path, story: str) -> None:
        self.path = directory / ".lock"
        self.story = story
        self._fd: int | None = None

    def acquire(self) -> "StoryLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise StoryBusyError(f"story {self.story} is being ingested by another process (pid {holder})") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "StoryLock":
        return self.acquire()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.release()


class StoryBusyError(StoreError):
    """Another process holds the story's lock."""
