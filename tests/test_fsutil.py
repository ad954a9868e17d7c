"""Atomic writes: the rename is made durable (the directory is fsynced after it), new
files get the usual permissions (the umask, not mkstemp's 0600), a replaced file keeps
its mode, and a failed write leaves the old file and no temp file behind."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from automuse_rag import fsutil
from automuse_rag.fsutil import (
    atomic_path,
    write_bytes_atomic,
    write_json_atomic,
    write_text_atomic,
)


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_new_files_follow_the_umask(tmp_path: Path, umask_022) -> None:
    write_text_atomic(tmp_path / "a.txt", "hello")
    with atomic_path(tmp_path / "b.bin") as tmp:
        tmp.write_bytes(b"x")
    plain = tmp_path / "plain.txt"
    plain.write_text("same as open()")
    assert _mode(tmp_path / "a.txt") == _mode(plain) == 0o644
    assert _mode(tmp_path / "b.bin") == 0o644
    os.umask(0o077)
    write_text_atomic(tmp_path / "private.txt", "secret")
    assert _mode(tmp_path / "private.txt") == 0o600


def test_replacing_a_file_keeps_its_mode(tmp_path: Path, umask_022) -> None:
    target = tmp_path / "script.sh"
    target.write_text("old")
    target.chmod(0o750)
    write_text_atomic(target, "new")
    assert target.read_text() == "new" and _mode(target) == 0o750


def test_the_directory_is_fsynced_after_the_rename(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append("fsync-dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "fsync-file")
        real_fsync(fd)

    def replace(src, dst) -> None:
        events.append("rename")
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    write_json_atomic(tmp_path / "d.json", {"a": 1})
    assert events == ["fsync-file", "rename", "fsync-dir"]
    events.clear()
    with atomic_path(tmp_path / "g.graphml") as tmp:
        tmp.write_text("<graphml/>")
    assert events == ["fsync-file", "rename", "fsync-dir"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "keep.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("writer died")
    with pytest.raises(TypeError):
        write_bytes_atomic(target, "not bytes")  # type: ignore[arg-type]
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


def test_fsync_dir_tolerates_a_missing_directory(tmp_path: Path) -> None:
    fsutil.fsync_dir(tmp_path / "nope")  # no exception
