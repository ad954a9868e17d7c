"""The story's collections on a real Chroma server (``chroma run``) via --chroma-url."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import SAMPLE_DIR, committed_chunks
from servers import CHROMA_SERVERS, free_port, start_chroma
from typer.testing import CliRunner

from automuse_rag.cli import app
from automuse_rag.memory.story import StoryMemory
from automuse_rag.settings import get_settings

pytestmark = pytest.mark.slow  # a real Chroma server (chroma run)

runner = CliRunner()


def test_ingest_and_read_through_chroma_server(tmp_path: Path, chroma_server: str):
    home = tmp_path / "home"
    args = [
        "--home",
        str(home),
        "ingest",
        str(SAMPLE_DIR / "story.txt"),
        "--story",
        "remote",
        "--llm",
        "extractive",
        "--embedder",
        "hash:32",
        "--chroma-url",
        chroma_server,
    ]
    result = runner.invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    store_dir = home / "stores" / "remote"
    assert not (store_dir / "chroma").exists(), "collections must live on the server"
    memory = StoryMemory.open(get_settings(home=home), "remote")
    try:
        assert memory.manifest["chroma_url"] == chroma_server
        n = len(memory)
        assert memory.store.count("summary") == memory.store.count("chunk") == n > 10
        assert memory.store.count("mention") == memory.db.execute("SELECT COUNT(*) FROM mentions").fetchone()[0]
        hits = memory.at(n // 2).search("Hollin Island", k=5, kinds=("summary", "entity", "chunk"))
        assert hits and all(h.chunk <= n // 2 for h in hits)
        assert any(h.kind == "entity" and "Hollin Island" in h.text for h in hits)
    finally:
        memory.close()
    client = _client(chroma_server)
    names = sorted(c.name if hasattr(c, "name") else c for c in client.list_collections())
    assert names == sorted(f"am-{memory.store_id}-{k}" for k in ("chunk", "mention", "summary"))
    rerun = runner.invoke(app, args[:-2], catch_exceptions=False)  # url comes from the manifest
    assert rerun.exit_code == 0, rerun.output
    removed = runner.invoke(app, ["--home", str(home), "stories", "rm", "remote", "--yes"])
    assert removed.exit_code == 0, removed.output
    assert client.list_collections() == []
    assert json.loads(runner.invoke(app, ["--home", str(home), "stories", "list", "--json"]).stdout) == []


def _client(url: str):
    import chromadb

    return chromadb.HttpClient(host="127.0.0.1", port=int(url.rsplit(":", 1)[1]))


def _ask(home: Path, *args: str) -> dict | list:
    result = runner.invoke(app, ["--home", str(home), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_two_homes_share_one_server_without_seeing_each_other(tmp_path: Path, chroma_server: str):
    """Same story name in two homes on one server: ingest, query and rm interleaved."""
    a, b = tmp_path / "a", tmp_path / "b"
    ingest = ["ingest", str(SAMPLE_DIR / "story.txt"), "--story", "shared", "--llm", "extractive", "--chroma-url", chroma_server]
    assert runner.invoke(app, ["--home", str(a), *ingest, "--embedder", "hash:32"]).exit_code == 0
    question = ["query", "--story", "shared", "who owns Hollin Island?", "-k", "6", "--json"]
    before = _ask(a, *question)
    chars_before = _ask(a, "characters", "--story", "shared", "--json")
    # home B: the same story name, chunked differently, another embedder dimension
    result = runner.invoke(app, ["--home", str(b), *ingest, "--embedder", "hash:48", "--size", "700"])
    assert result.exit_code == 0, result.output
    assert _ask(a, *question) == before and _ask(a, "characters", "--story", "shared", "--json") == chars_before
    b_hits = _ask(b, *question)
    assert b_hits["hits"] and b_hits != before
    assert runner.invoke(app, ["--home", str(a), "check", "--story", "shared"]).exit_code == 0
    assert runner.invoke(app, ["--home", str(b), "stories", "rm", "shared", "--yes"]).exit_code == 0
    assert _ask(a, *question) == before
    check = runner.invoke(app, ["--home", str(a), "check", "--story", "shared", "--json"])
    assert check.exit_code == 0 and json.loads(check.stdout)["healthy"], check.output
    assert len(_client(chroma_server).list_collections()) == 3


def test_server_gone_mid_ingest_is_one_line_and_resumes(tmp_path: Path, chroma_server: str, shared_data: Path):
    """Kill the Chroma server while a long ingest runs: one error line, nothing lost;
    the next run against a live server (same data directory) finishes the story."""
    home = tmp_path / "home"
    book = shared_data / "gutenberg" / "cache" / "epub" / "1342" / "pg1342.txt"
    cmd = [
        str(Path(sys.executable).parent / "automuse"),
        "--home",
        str(home),
        "ingest",
        str(book),
        "--story",
        "pp",
        "--llm",
        "extractive",
        "--embedder",
        "hash:16",
        "--chroma-url",
        chroma_server,
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    db = home / "stores" / "pp" / "state.sqlite"
    deadline = time.monotonic() + 240
    while committed_chunks(db) < 64 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    server = CHROMA_SERVERS[chroma_server]
    server.kill()
    server.wait()
    out, err = proc.communicate(timeout=120)
    assert proc.returncode not in (0, None)
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Chroma server" in lines[0] and "Traceback" not in err, err
    done = committed_chunks(db)
    assert done >= 64
    restarted = start_chroma(chroma_server, tmp_path / "server")
    try:
        again = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        assert again.returncode == 0, again.stderr
        memory = StoryMemory.open(get_settings(home=home), "pp")
        try:
            assert len(memory) == memory.manifest["chunks_total"] > done
        finally:
            memory.close()
        check = subprocess.run(cmd[:3] + ["check", "--story", "pp"], capture_output=True, text=True, timeout=300)
        assert check.returncode == 0, check.stdout + check.stderr
    finally:
        restarted.kill()


def test_unreachable_server_is_a_clear_error(tmp_path: Path):
    url = f"http://127.0.0.1:{free_port()}"
    result = runner.invoke(
        app,
        [
            "--home",
            str(tmp_path),
            "ingest",
            str(SAMPLE_DIR / "story.txt"),
            "--story",
            "x",
            "--llm",
            "extractive",
            "--embedder",
            "hash",
            "--chroma-url",
            url,
        ],
    )
    assert result.exit_code != 0 and "cannot reach the Chroma server" in result.output
    stores = tmp_path / "stores"
    assert not stores.exists() or [p.name for p in stores.iterdir() if p.name != ".locks"] == []
    assert not (stores / ".locks").exists() or list((stores / ".locks").iterdir()) == []
