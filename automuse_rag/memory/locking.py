"""One writer per story: an exclusive ``fcntl.flock`` on ``stores/.locks/NAME.lock``.

The lock file lives outside the story's directory, so taking the lock creates
nothing in ``stores/NAME`` (a command that fails before storing anything leaves
no directory behind), and it is removed on release (unlink while still holding the
lock; a waiter that opened the old file notices the inode changed and retries).
The kernel releases the lock when the process dies (SIGKILL included), so a crash
never leaves a stale lock, only at most an unlocked file that the next run reuses.
Readers take no lock.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

from automuse_rag.errors import StoreError


def lock_path(directory: Path, story: str) -> Path:
    return directory.parent / ".locks" / f"{story}.lock"


class StoryLock:
    """``with StoryLock(story_dir, name): ...`` or ``acquire()`` / ``release()``."""

    def __init__(self, directory: Path, story: str) -> None:
        self.path = lock_path(Path(directory), story)
        self.story = story
        self._fd: int | None = None

    def acquire(self) -> StoryLock:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create {self.path.parent}: {exc.strerror or exc}") from None
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
                os.close(fd)
                raise StoryBusyError(f"story {self.story} is being ingested by another process (pid {holder})") from None
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)  # released and removed by its holder in between: take the new file
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            try:
                self.path.unlink(missing_ok=True)
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
                os.close(self._fd)
                self._fd = None

    def __enter__(self) -> StoryLock:
        return self.acquire()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.release()


def is_locked(directory: Path, story: str) -> bool:
    """Whether a writer holds the story's lock right now (without taking it)."""
    path = lock_path(Path(directory), story)
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


class StoryBusyError(StoreError):
    """Another process holds the story's lock."""
