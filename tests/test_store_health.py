"""A store's health: readers write nothing and take no lock; every kind of damage
ends in one clear line naming the fix; ``check`` finds it and ``repair`` brings back
the same answers as before the damage."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from conftest import SAMPLE_INGEST, cli

from automuse_rag.memory.chroma_client import connect
from automuse_rag.memory.locking import StoryLock
from automuse_rag.memory.story import StoryMemory
from automuse_rag.settings import get_settings


@pytest.fixture
def home(editable_sample: Path) -> Path:
    return editable_sample


def answers(home: Path) -> dict:
    """What the reading commands say about the story (timings aside)."""
    out = {}
    for key, args in {
        "query": ("query", "--story", "sample", "who owns Hollin Island?", "--at", "20", "-k", "6", "--json"),
        "query_all": ("query", "--story", "sample", "the storm night photograph", "--json"),
        "prompt": ("prompt", "--story", "sample", "--at", "4,25", "--llm", "extractive", "--budget", "900", "--json"),
        "characters": ("characters", "--story", "sample", "--json"),
        "characters_12": ("characters", "--story", "sample", "--as-of", "12", "--json"),
    }.items():
        result = cli(home, *args)
        assert result.exit_code == 0, result.output
        data = json.loads(result.stdout)
        for item in data if isinstance(data, list) else [data]:
            if isinstance(item, dict):
                item.pop("timings_ms", None)
        out[key] = data
    return out


def one_error_line(result) -> str:
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code != 0, result.output
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert "Traceback" not in result.output
    return lines[0]


def files(home: Path) -> dict[str, str]:
    """Every file of the store but Chroma's own (which Chroma rewrites whenever a client
    opens it, even to read), with its hash."""
    root = home / "stores" / "sample"
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "chroma" not in p.relative_to(root).parts
    }


def chroma_content(home: Path) -> dict:
    mem = StoryMemory.open(get_settings(home=home), "sample")
    try:
        return {k: mem.store.get_all(k) for k in ("summary", "chunk", "mention")}
    finally:
        mem.close()


def test_readers_write_nothing_and_take_no_lock(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    before_files, before_chroma = files(home), chroma_content(home)
    chroma_names = sorted(p.name for p in (home / "stores" / "sample" / "chroma").iterdir())
    out = tmp_path / "out"
    with StoryLock(home / "stores" / "sample", "sample"):  # a writer holds the lock: readers don't care
        answers(home)
        for args in (
            ("characters", "--story", "sample", "--graphml", str(out / "g.graphml")),
            ("graph", "--story", "sample", "--at", "9", "--out", str(out / "g9.graphml")),
            ("dataset", "--story", "sample", "--out", str(out / "d.jsonl"), "--llm", "extractive", "--budget", "900"),
            (
                "compare",
                "--story",
                "sample",
                "--llm",
                "extractive",
                "--budget",
                "900",
                "--nll-samples",
                "0",
                "--positions",
                "0:30:10",
                "--out",
                str(out / "cmp"),
                "--no-plots",
            ),
            ("export", "--story", "sample", "--format", "txt"),
            ("check", "--story", "sample"),
            ("stories",),
        ):
            result = cli(home, *args)
            assert result.exit_code == 0, (args, result.output)
    assert files(home) == before_files
    assert chroma_content(home) == before_chroma
    assert sorted(p.name for p in (home / "stores" / "sample" / "chroma").iterdir()) == chroma_names
    assert (tmp_path / "sample.txt").is_file()  # export's default is the current directory


def test_check_is_healthy_and_repair_keeps_the_answers(home: Path) -> None:
    assert cli(home, "check", "--story", "sample").exit_code == 0
    before = answers(home)
    repaired = cli(home, "repair", "--story", "sample")
    assert repaired.exit_code == 0, repaired.output
    assert answers(home) == before
    report = json.loads(cli(home, "check", "--story", "sample", "--json").stdout)
    assert report["healthy"] and report["checked"]["records"]["summary"] == report["checked"]["chunks"] == 31


def _drop_summaries(home: Path, chunks: list[int]) -> None:
    """Damage the index behind the store's back, with chromadb's own client (a story
    opened to read refuses writes)."""
    mem = StoryMemory.open(get_settings(home=home), "sample")
    try:
        names = {kind: mem.store._cols[(kind, None)].name for kind in ("summary", "chunk")}
        client = connect(mem.dir / "chroma", None, create=False)
        client.get_collection(names["summary"]).delete(ids=[f"summary:{c:05d}" for c in chunks])
        col = client.get_collection(names["chunk"])
        col.update(ids=["chunk:00007"], documents=["a different text"], embeddings=[[0.5] * 32])
    finally:
        mem.close()


def _halve(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize("damage", ["chroma deleted", "records lost", "exports cut in half"])
def test_damage_is_one_line_then_repair_restores_the_answers(home: Path, damage: str) -> None:
    before = answers(home)
    store = home / "stores" / "sample"
    if damage == "chroma deleted":
        shutil.rmtree(store / "chroma")
    elif damage == "records lost":
        _drop_summaries(home, [3, 11, 12])
    else:
        for name in ("lore.json", "outline.json", "graph.json"):
            _halve(store / name)
    if damage == "exports cut in half":
        assert answers(home) == before  # no reader reads an export
    else:
        for args in (
            ("query", "--story", "sample", "storm"),
            ("prompt", "--story", "sample", "--at", "5", "--llm", "extractive"),
            ("characters", "--story", "sample"),
        ):
            line = one_error_line(cli(home, *args))
            assert "automuse repair --story sample" in line
    if damage != "exports cut in half":  # a writer refuses too, and creates nothing
        again = cli(home, *SAMPLE_INGEST)
        assert "automuse repair --story sample" in one_error_line(again)
        assert damage != "chroma deleted" or not (store / "chroma").exists()
    check = cli(home, "check", "--story", "sample")
    assert check.exit_code == 1
    problems = [line for line in check.output.splitlines() if line.startswith("problem:")]
    assert problems and "automuse repair" in check.output
    if damage == "records lost":
        assert any("3 records missing (chunks 3, 11, 12)" in p for p in problems), problems
        assert any("chunk collection" in p and "different" in p for p in problems), problems
    if damage == "exports cut in half":
        assert {p.split()[1] for p in problems} >= {"lore.json", "outline.json", "graph.json"}
    assert cli(home, "repair", "--story", "sample").exit_code == 0
    check = cli(home, "check", "--story", "sample")
    assert check.exit_code == 0, check.output
    assert answers(home) == before
    assert not (store / "chroma").exists() or chroma_content(home)["chunk"]["chunk:00007"][0] != "a different text"


def test_a_garbage_state_sqlite_is_one_line_and_can_be_removed(home: Path) -> None:
    store = home / "stores" / "sample"
    (store / "state.sqlite").write_bytes(b"this is not a database" * 100)
    for args in (
        ("query", "--story", "sample", "storm"),
        ("characters", "--story", "sample"),
        ("check", "--story", "sample"),
        ("repair", "--story", "sample"),
        SAMPLE_INGEST,
    ):
        result = cli(home, *args)
        assert result.exit_code != 0 and "Traceback" not in result.output, (args, result.output)
        assert "state.sqlite" in result.output and "stories rm sample" in result.output, (args, result.output)
    listed = json.loads(cli(home, "stories", "list", "--json").stdout)
    assert [s["name"] for s in listed] == ["sample"] and "state.sqlite" in listed[0]["problem"]
    assert cli(home, "stories", "rm", "sample", "--yes").exit_code == 0
    assert not store.exists()


def test_a_missing_state_sqlite_is_one_line(home: Path) -> None:
    (home / "stores" / "sample" / "state.sqlite").unlink()
    line = one_error_line(cli(home, "characters", "--story", "sample"))
    assert "state.sqlite is missing" in line and "stories rm sample" in line
    assert cli(home, "stories", "rm", "sample", "--yes").exit_code == 0


def test_prefix_tiers_search_as_of_like_the_naive_story_and_are_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With tiny tiers (4, 8, 16, 32 chunks), a 40-chunk story searches every position
    through a tier or the whole collection and finds what the naive story finds; a
    damaged tier is found by check and rebuilt by repair."""
    from automuse_rag.lore.types import ChunkAnalysis, LoreMention
    from automuse_rag.memory import store as store_mod
    from automuse_rag.memory.inmemory import InMemoryStory
    from automuse_rag.memory.types import ChunkRecord
    from automuse_rag.models.fake import HashEmbedder
    from automuse_rag.text.types import Chunk

    monkeypatch.setattr(store_mod, "TIER0", 4)
    monkeypatch.setattr(store_mod, "FANOUT", 2)
    cfg = get_settings(home=tmp_path)
    words = "harbour storm keeper island letter captain chess table walnut lamp quay boat tide granite".split()
    items = []
    for i in range(40):
        who = [f"Person{i % 7}", f"Person{(i * 3) % 11}"]
        summary = f"{who[0]} and {who[1]} " + " ".join(words[(i * k) % len(words)] for k in range(1, 12)) + f" {i}."
        mentions = [
            LoreMention(name=n, labels={"PERSON": 1}, count=2, description=f"{n} near the {words[i % 14]} {i}.") for n in who
        ]
        text = f"Chunk {i}: {who[0]} met {who[1]}."
        items.append((Chunk(i, f"t:{i:05d}", 1 + i // 10, "C", 0, len(text), text), ChunkAnalysis(summary, mentions)))
    emb = HashEmbedder(16)
    with StoryLock(cfg.stores_dir / "tiers", "tiers"):
        mem = StoryMemory.create(cfg, "tiers", embedder=emb, llm_name="extractive", source="synthetic")
        for start in range(0, 40, 5):
            mem.commit_chunks(items[start : start + 5])
        mem.write_exports()
        mem.close()
    mem = StoryMemory.open(cfg, "tiers", emb)
    assert mem.store.tiers("summary") == [0, 1, 2, 3] and mem.store.tiers("mention") == [0, 1, 2, 3]
    naive = InMemoryStory.from_analyses(
        "tiers", [(ChunkRecord(c.index, c.id, c.chapter, c.chapter_title, c.text, a.summary), a) for c, a in items], emb
    )
    for at in range(40):
        for query in ("storm harbour captain", "Person3 near the lamp"):
            got = [(h.id, round(h.score, 4)) for h in mem.at(at).search(query, k=5)]
            want = [(h.id, round(h.score, 4)) for h in naive.at(at).search(query, k=5)]
            assert got == want, (at, query)
    tier1 = mem.store._cols[("summary", 1)].name
    mem.close()
    connect(mem.dir / "chroma", None, create=False).get_collection(tier1).delete(ids=["summary:00003"])
    check = cli(tmp_path, "check", "--story", "tiers")
    assert check.exit_code == 1 and "summary collection tier 1 (chunks < 8): 1 records missing (chunks 3)" in check.output, (
        check.output
    )
    assert cli(tmp_path, "repair", "--story", "tiers").exit_code == 0
    assert cli(tmp_path, "check", "--story", "tiers").exit_code == 0


def test_collections_measure_cosine_and_persist_one_record_kinds_often(tmp_path) -> None:
    """A Chroma configuration replaces the metadata's ``hnsw:space``: every collection
    must still be cosine (scores are 1 - distance), and the one-record-per-chunk kinds
    persist every SYNC_EVERY records (generation's commits stay flat)."""
    from automuse_rag.memory.store import SYNC_EVERY, ChromaStore

    store = ChromaStore("s", "0123abcd", ("hash", 8), path=tmp_path / "chroma", create=True)
    try:
        for (kind, _tier), col in store._cols.items():
            hnsw = col.configuration["hnsw"]
            assert hnsw["space"] == "cosine", kind
            assert hnsw["sync_threshold"] == SYNC_EVERY.get(kind, 1000), kind
        store.upsert("summary", ["summary:00000"], ["a"], [{"chunk": 0}], [[1.0] + [0.0] * 7])
        hits = store.query("summary", [1.0] + [0.0] * 7, 1, None, 0)
        assert hits[0][0] == "summary:00000" and hits[0][2] == pytest.approx(1.0)
    finally:
        store.close()
