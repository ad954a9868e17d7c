"""Shared fixtures. Shared data (Gutenberg texts, outlines, premises) is read from
``../shared/data`` beside the checkout (override with AUTOMUSE_SHARED_DATA)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLE_DIR = REPO / "books" / "sample"


def shared_data_dir() -> Path:
    env = os.environ.get("AUTOMUSE_SHARED_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_dir()
    if not path.is_dir():
        pytest.fail(f"shared data not found at {path} (set AUTOMUSE_SHARED_DATA)")
    return path


@pytest.fixture(scope="session")
def gutenberg_mirror(shared_data: Path) -> Path:
    return shared_data / "gutenberg"


def gutenberg_path(shared: Path, book_id: int) -> Path:
    return shared / "gutenberg" / "cache" / "epub" / str(book_id) / f"pg{book_id}.txt"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh AUTOMUSE_HOME for one test."""
    monkeypatch.setenv("AUTOMUSE_HOME", str(tmp_path))
    return tmp_path
