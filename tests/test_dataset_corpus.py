"""``automuse dataset`` across stories: chosen by glob or --all, streamed one story at
a time, split by book (no story in both files), identical samples written once, and
each story's train and validation counts in the meta file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from conftest import SAMPLE_DIR, cli

from automuse_rag.memory.story import StoryMemory
from automuse_rag.settings import get_settings

ARGS = ["--llm", "extractive", "--budget", "1024"]


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


def _chunks(home: Path, name: str) -> set[str]:
    with StoryMemory.open(get_settings(home=home), name) as memory:
        return {r.text.strip() for r in memory.latest().records()}


def test_dataset_over_stories_splits_by_book_and_drops_duplicates(extractive_sample: Path, tmp_path: Path):
    home = tmp_path / "home"
    shutil.copytree(extractive_sample / "stores", home / "stores")
    story = str(SAMPLE_DIR / "story.txt")
    for name, size in (("twin", "1500"), ("small", "800")):  # twin: the same book again, so the same samples
        result = cli(home, "ingest", story, "--story", name, "--llm", "extractive", "--embedder", "hash:32", "--size", size)
        assert result.exit_code == 0, result.output
    out = tmp_path / "all.jsonl"
    result = cli(home, "dataset", "--all", "--out", str(out), "--val-fraction", "0.34", *ARGS, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    meta = json.loads(out.with_name("all.meta.json").read_text())
    assert summary["split_by"] == meta["split_by"] == "book"
    assert meta["stories"] == ["sample", "small", "twin"]
    split = meta["per_story"]
    sample_n = len(_chunks(home, "sample"))
    assert summary["duplicates"] == sample_n and "twin" not in split  # every twin sample is a sample's
    held_out = [name for name, row in split.items() if row["validation"]]
    assert len(held_out) == 1 and all(row["train"] == 0 for name, row in split.items() if name in held_out)
    train, valid = _lines(out), _lines(out.with_name("all.val.jsonl"))
    assert len(train) == summary["train"] == sum(r["train"] for r in split.values())
    assert len(valid) == summary["validation"] == split[held_out[0]]["validation"] > 0
    others = set().union(*(_chunks(home, n) for n in ("sample", "small") if n != held_out[0]))
    assert {r["completion"] for r in valid} <= _chunks(home, held_out[0])
    assert {r["completion"] for r in train} <= others
    assert len({json.dumps(r, sort_keys=True) for r in train + valid}) == len(train) + len(valid)

    out2 = tmp_path / "s.jsonl"
    picked = cli(home, "dataset", "--story", "s*", "--out", str(out2), "--val-fraction", "0.5", *ARGS, "--json")
    assert picked.exit_code == 0, picked.output
    assert json.loads(out2.with_name("s.meta.json").read_text())["stories"] == ["sample", "small"]
    none = cli(home, "dataset", "--story", "zz*", "--out", str(tmp_path / "z.jsonl"), *ARGS)
    assert none.exit_code != 0 and none.output.startswith("error: no finished story matches")
    neither = cli(home, "dataset", "--out", str(tmp_path / "z.jsonl"), *ARGS)
    assert neither.exit_code != 0 and "--all" in neither.output and not (tmp_path / "z.jsonl").exists()
