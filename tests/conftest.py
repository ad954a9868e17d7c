"""Shared fixtures. The Gutenberg texts the tests read come from AUTOMUSE_SHARED_DATA,
else ``../shared/data`` beside the checkout, else ``.cache/test-data`` (filled by
``scripts/setup.sh``: see tests/shared_data.py)."""

from __future__ import annotations

import os

# Widths are read once: the CLI's rich consoles keep a COLUMNS set when they are made
# (pytest-xdist's workers run with COLUMNS=80), and typer keeps the TERMINAL_WIDTH set
# when typer.rich_utils is first imported (lazily, by whichever test renders --help
# first in a worker). Both are made here with neither set, so each test's width, given
# through CliRunner's env, is the one used, whatever ran before it in its worker.
os.environ.pop("COLUMNS", None)
os.environ.pop("TERMINAL_WIDTH", None)
import sqlite3  # noqa: E402
import subprocess  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402
import typer.rich_utils  # noqa: E402, F401
from browser import BrowserMissing, chromium, find_browser  # noqa: E402
from servers import CHROMA_SERVERS, free_port, start_chroma  # noqa: E402
from shared_data import gutenberg_path, missing_books, shared_data_dir  # noqa: E402

__all__ = ["REPO", "SAMPLE_DIR", "gutenberg_path", "shared_data_dir"]

REPO = Path(__file__).resolve().parents[1]
SAMPLE_DIR = REPO / "books" / "sample"

if os.environ.get("PYTEST_XDIST_WORKER"):
    # Tests run side by side on every core (pytest-xdist, `-n auto`): a model's own
    # thread pool gets one core, as two pools of two threads on two cores slow
    # llama.cpp many times over. A value set by the caller wins.
    os.environ.setdefault("AUTOMUSE_N_THREADS", "1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_dir()
    missing = missing_books(path)
    if missing:
        pytest.fail(
            f"shared data not found: no {' '.join(f'pg{i}.txt' for i in missing)} under {path}; set AUTOMUSE_SHARED_DATA, "
            "put the shared data at ../shared/data, or fetch the books with `python tests/shared_data.py [--mirror M]`",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="session")
def gutenberg_mirror(shared_data: Path) -> Path:
    return shared_data / "gutenberg"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh AUTOMUSE_HOME for one test."""
    monkeypatch.setenv("AUTOMUSE_HOME", str(tmp_path))
    return tmp_path


def committed_chunks(db: Path, timeout: float = 0.2) -> int:
    """The chunks a store's ``state.sqlite`` holds, read (read-only) while a writer the
    test will kill runs: 0 while the file is missing, locked past ``timeout`` seconds
    or unreadable."""
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=timeout)
        try:
            return int(con.execute("SELECT COUNT(*) FROM chunks").fetchone()[0])
        finally:
            con.close()
    except sqlite3.Error:
        return 0


#: The extractive ingest of the sample story that ``extractive_sample`` holds.
SAMPLE_INGEST = ["ingest", str(SAMPLE_DIR / "story.txt"), "--story", "sample", "--llm", "extractive", "--embedder", "hash:32"]


def cli(home: Path, *args: str) -> Any:
    """``automuse --home HOME ARGS...`` in this process (typer's CliRunner result)."""
    from typer.testing import CliRunner

    from automuse_rag.cli import app

    return CliRunner().invoke(app, ["--home", str(home), *args])


@pytest.fixture(scope="session")
def extractive_sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home with the sample story ingested extractively (hash:32 embeddings) as
    ``sample``, shared read-only; a test that changes it takes ``editable_sample``."""
    home = tmp_path_factory.mktemp("extractive-sample")
    result = cli(home, *SAMPLE_INGEST)
    assert result.exit_code == 0, result.output
    return home


@pytest.fixture
def editable_sample(extractive_sample: Path, tmp_path: Path) -> Path:
    """A copy of ``extractive_sample``'s stores for one test to change."""
    import shutil

    shutil.copytree(extractive_sample / "stores", tmp_path / "stores")
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


@pytest.fixture
def chroma_server(tmp_path: Path) -> Iterator[str]:
    """The URL of a real Chroma server (``chroma run``) on 127.0.0.1 for one test; its
    process is ``servers.CHROMA_SERVERS[url]``."""
    url = f"http://127.0.0.1:{free_port()}"
    proc = CHROMA_SERVERS[url] = start_chroma(url, tmp_path / "server")
    yield url
    CHROMA_SERVERS.pop(url, None)
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless Chromium driven by Selenium (tests/browser.py), one per test module.
    A missing browser fails the test naming the install command, never skips it."""
    missing = ""
    try:
        find_browser()
    except BrowserMissing as exc:
        missing = str(exc)
    if missing:
        pytest.fail(missing, pytrace=False)
    with chromium() as driver:
        yield driver
