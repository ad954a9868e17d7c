"""The story's collections on a real Chroma server (``chroma run``) via --chroma-url."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from typer.testing import CliRunner

from automuse_rag.cli import app
from automuse_rag.memory.story import StoryMemory
from automuse_rag.settings import get_settings
from conftest import SAMPLE_DIR

runner = CliRunner()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def chroma_server(tmp_path: Path):
    port = free_port()
    exe = Path(sys.executable).parent / "chroma"
    proc = subprocess.Popen(
        [str(exe), "run", "--path", str(tmp_path / "server"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            with urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail("chroma server did not start")
        time.sleep(0.3)
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def test_ingest_and_read_through_chroma_server(tmp_path: Path, chroma_server: str):
    home = tmp_path / "home"
    args = ["--home", str(home), "ingest", str(SAMPLE_DIR / "story.txt"), "--story", "remote", "--llm", "extractive", "--embedder", "hash:32", "--chroma-url", chroma_server]
    result = runner.invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    store_dir = home / "stores" / "remote"
    assert not (store_dir / "chroma").exists(), "collections must live on the server"
    memory = StoryMemory.open(get_settings(home=home), "remote")
    try:
        assert memory.manifest["chroma_url"] == chroma_server
        n = len(memory)
        assert memory.store.count("summary") == memory.store.count("chunk") == n > 10
        assert memory.store.count("entity") == sum(len(e.mentions) for e in memory.entities())
        hits = memory.search("Hollin Island", k=5, as_of=n // 2, kinds=("summary", "entity", "chunk"))
        assert hits and all(h.chunk <= n // 2 for h in hits)
        assert any(h.kind == "entity" and "Hollin Island" in h.text for h in hits)
    finally:
        memory.close()
    import chromadb

    host, port = chroma_server.rsplit(":", 1)
    client = chromadb.HttpClient(host="127.0.0.1", port=int(port))
    names = sorted(c.name if hasattr(c, "name") else c for c in client.list_collections())
    assert names == ["remote-chunks", "remote-entities", "remote-summaries"]
    rerun = runner.invoke(app, args[:-2], catch_exceptions=False)  # url comes from the manifest
    assert rerun.exit_code == 0, rerun.output
    removed = runner.invoke(app, ["--home", str(home), "stories", "rm", "remote", "--yes"])
    assert removed.exit_code == 0, removed.output
    assert client.list_collections() == []
    assert json.loads(runner.invoke(app, ["--home", str(home), "stories", "--json"]).stdout) == []


def test_unreachable_server_is_a_clear_error(tmp_path: Path):
    url = f"http://127.0.0.1:{free_port()}"
    result = runner.invoke(app, ["--home", str(tmp_path), "ingest", str(SAMPLE_DIR / "story.txt"), "--story", "x", "--llm", "extractive", "--embedder", "hash", "--chroma-url", url])
    assert result.exit_code != 0 and "cannot reach the Chroma server" in result.output
