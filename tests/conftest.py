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


@pytest.fixture(scope="session")
def sample_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home with the sample story ingested for real, quickly (extractive summaries,
    spaCy lore, 64-dimension hash embeddings) as ``sample``, and a compare report in
    ``stores/sample/compare``. Shared read-only by the ask and web tests."""
    from typer.testing import CliRunner

    from automuse_rag.cli import app

    home = tmp_path_factory.mktemp("sample-home")
    runner = CliRunner()
    base = ["--home", str(home)]
    result = runner.invoke(
        app, [*base, "ingest", str(SAMPLE_DIR / "story.txt"), "--story", "sample", "--llm", "extractive", "--embedder", "hash:64"]
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        app,
        [
            *base,
            "compare",
            "--story",
            "sample",
            "--llm",
            "extractive",
            "--budget",
            "1024",
            "--nll-samples",
            "0",
            "--positions",
            "0:31:3",
            "--out",
            str(home / "stores" / "sample" / "compare"),
        ],
    )
    assert result.exit_code == 0, result.output
    return home
