"""Upgrading a store written by the code before the memory core rework (format 0),
kept as a fixture (tests/fixtures/store-v0-sample.tar.gz, see its README)."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest
from conftest import REPO, SAMPLE_DIR
from typer.testing import CliRunner

from automuse_rag.cli import app
from automuse_rag.memory.oracle import NaiveLore
from automuse_rag.memory.schema import SCHEMA_VERSION, connect, user_version
from automuse_rag.memory.story import StoryMemory
from automuse_rag.settings import get_settings

FIXTURE = REPO / "tests" / "fixtures" / "store-v0-sample.tar.gz"
runner = CliRunner()


@pytest.fixture
def old_home(tmp_path: Path) -> Path:
    (tmp_path / "stores").mkdir()
    with tarfile.open(FIXTURE) as tar:
        tar.extractall(tmp_path / "stores", filter="data")
    db = connect(tmp_path / "stores" / "sample" / "state.sqlite", readonly=True)
    assert user_version(db) == 0 and db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0] == 31
    db.close()
    return tmp_path


def cli(home: Path, *args: str):
    return runner.invoke(app, ["--home", str(home), *args])


def _legacy_collections(home: Path) -> list[str]:
    from automuse_rag.memory.store import connect as chroma_client

    client = chroma_client(home / "stores" / "sample" / "chroma", None, create=False)
    return sorted(c.name for c in client.list_collections() if not c.name.startswith("am-"))


def test_readers_point_to_repair_and_repair_upgrades(old_home: Path) -> None:
    result = cli(old_home, "characters", "--story", "sample")
    assert result.exit_code == 2 and "older automuse-rag" in result.output and "automuse repair --story sample" in result.output
    listed = json.loads(cli(old_home, "stories", "list", "--json").stdout)
    assert listed[0]["name"] == "sample" and "old store format" in listed[0]["problem"]
    assert cli(old_home, "check", "--story", "sample").exit_code == 1
    assert _legacy_collections(old_home) == ["sample-chunks", "sample-entities", "sample-summaries"]

    repaired = cli(old_home, "repair", "--story", "sample")
    assert repaired.exit_code == 0, repaired.output
    assert "upgraded story sample from store format 0" in repaired.output
    check = cli(old_home, "check", "--story", "sample", "--json")
    assert check.exit_code == 0 and json.loads(check.stdout)["healthy"], check.output
    assert _legacy_collections(old_home) == []

    memory = StoryMemory.open(get_settings(home=old_home), "sample")
    try:
        assert user_version(memory.db) == SCHEMA_VERSION and len(memory) == 31
        assert memory.manifest["embedder"] == {"name": "hash:32", "dimension": 32}
        assert memory.manifest["title"] == "The Keeper of Kestrel Point"
        naive = NaiveLore(memory.analyses(), "scratch")
        for at in (0, 9, 30):
            assert [e.to_dict() for e in memory.at(at).entities()] == [e.to_dict() for e in naive.entities(at)]
        parts = memory.outline_parts()
        assert [p.chapter for p in parts] == [0, 1, 2, 3, 4, 5] and all(p.text for p in parts)
        hits = memory.at(20).search("Hollin Island", k=5)
        assert hits and all(h.chunk <= 20 for h in hits)
    finally:
        memory.close()
    prompt = cli(old_home, "prompt", "--story", "sample", "--at", "12", "--llm", "extractive", "--json")
    assert prompt.exit_code == 0 and json.loads(prompt.stdout)["tokens"] > 0


def test_a_writer_upgrades_on_its_own_and_resumes(old_home: Path) -> None:
    """Ingesting the same book again upgrades the store (even from another checkout
    path: the fixture recorded /work/main/books/...) and makes no new chunk."""
    result = cli(
        old_home,
        "ingest",
        str(SAMPLE_DIR / "story.txt"),
        "--story",
        "sample",
        "--llm",
        "extractive",
        "--embedder",
        "hash:32",
        "--json",
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["chunks"] == 31 and out["new_chunks"] == 0 and out["model_calls"] == 0
    assert cli(old_home, "check", "--story", "sample").exit_code == 0
