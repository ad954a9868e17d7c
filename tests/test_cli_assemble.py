"""CLI: ``automuse prompt``, ``dataset`` and ``query`` on the sample story, ingested for
real (extractive summaries and spaCy lore, hash embeddings) into a temporary home."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from automuse_rag.cli import app
from automuse_rag.models.fake import count_words_and_marks

runner = CliRunner()


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("assemble-home")
    result = runner.invoke(
        app, ["--home", str(home), "ingest", "sample", "--story", "sample", "--llm", "extractive", "--embedder", "hash"]
    )
    assert result.exit_code == 0, result.output
    return home


def run(home: Path, *args: str):
    return runner.invoke(app, ["--home", str(home), *args])


def _last_index(home: Path) -> int:
    from automuse_rag.memory.story import StoryMemory
    from automuse_rag.settings import get_settings

    with StoryMemory.open(get_settings(home=home), "sample") as memory:
        return memory.last_index()


def test_prompt_json_has_sections_candidates_and_tokens(home: Path) -> None:
    result = run(home, "prompt", "--story", "sample", "--at", "12", "--budget", "900", "--llm", "fake", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["at"] == 12 and data["budget"] == 900
    assert data["tokens"] == count_words_and_marks(data["text"]) <= 900
    assert {"outline", "last_chunk", "cue"} <= set(data["sections"])
    assert "\n\n".join(data["sections"].values()) == data["text"]
    fates = {d["fate"] for d in data["decisions"]}
    assert fates <= {"included", "shortened", "dropped"}
    assert all(d["chunk"] <= 12 for d in data["decisions"])
    assert {d["section"] for d in data["decisions"]} >= {"lore", "memories", "last_chunk"}
    assert all(d["reason"] for d in data["decisions"])
    assert sum(data["counts"].values()) == len(data["decisions"])


def test_prompt_table_shows_every_candidate(home: Path) -> None:
    wide = CliRunner(env={"COLUMNS": "200"})
    result = wide.invoke(
        app, ["--home", str(home), "prompt", "--story", "sample", "--at", "5", "--budget", "700", "--llm", "fake"]
    )
    assert result.exit_code == 0, result.output
    as_json = json.loads(
        run(home, "prompt", "--story", "sample", "--at", "5", "--budget", "700", "--llm", "fake", "--json").stdout
    )
    assert f"Context: {as_json['tokens']} of 700 tokens" in result.stdout
    assert "NEXT CHUNK:" in result.stdout
    for decision in as_json["decisions"]:
        assert decision["candidate_id"] in result.stdout


@pytest.mark.slow
def test_prompt_counts_with_the_local_tokenizer(home: Path) -> None:
    result = run(home, "prompt", "--story", "sample", "--at", "20", "--budget", "800", "--llm", "local", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    from automuse_rag.models.local import LocalChatModel
    from automuse_rag.settings import get_settings

    assert data["tokens"] == LocalChatModel(get_settings()).count_tokens(data["text"]) <= 800


def test_prompt_errors_are_one_line(home: Path) -> None:
    result = run(home, "prompt", "--story", "sample", "--at", "999", "--llm", "fake")
    last = _last_index(home)
    assert result.exit_code != 0
    assert result.stderr.strip() == (
        f"error: position 999 is outside story 'sample', which has chunks 0..{last} (use -1 for before the first)"
    )
    listed = run(home, "prompt", "--story", "sample", "--at", "3,-2", "--llm", "fake")  # one bad position in a list
    assert listed.exit_code != 0 and listed.stderr.startswith("error: position -2 is outside story 'sample'")
    assert "Traceback" not in result.output
    small = run(home, "prompt", "--story", "sample", "--at", "10", "--budget", "60", "--llm", "fake")
    assert small.exit_code != 0
    assert re.match(r"error: the fixed parts need \d+ tokens more than the budget of 60", small.stderr)
    missing = run(home, "prompt", "--story", "nope", "--at", "1", "--llm", "fake")
    assert missing.exit_code != 0 and missing.stderr.startswith("error:") and "Traceback" not in missing.output


def test_prompt_with_a_template_file(home: Path, tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text(
        "[[section memories quota=0.5]]\nEARLIER:\n$content\n[[section last_chunk]]\nNOW:\n$content\n[[section cue]]\nTHEN:\n",
        encoding="utf-8",
    )
    result = run(home, "prompt", "--story", "sample", "--at", "8", "--template", str(path), "--llm", "fake", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["text"].startswith("EARLIER:\n- ") and data["text"].endswith("THEN:")
    assert list(data["sections"]) == ["memories", "last_chunk", "cue"]


def test_query_at_only_sees_known_memory(home: Path) -> None:
    question = "walnut leg of the chess table grant"
    everything = json.loads(run(home, "query", "--story", "sample", question, "-k", "20", "--json").stdout)
    assert max(h["chunk"] for h in everything["hits"]) > 10
    early = run(home, "query", "--story", "sample", question, "--at", "10", "-k", "20", "--json")
    assert early.exit_code == 0, early.output
    hits = json.loads(early.stdout)["hits"]
    assert hits and all(h["chunk"] <= 10 for h in hits)
    assert {h["kind"] for h in hits} <= {"summary", "entity"}
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
    table = CliRunner(env={"COLUMNS": "200"}).invoke(
        app, ["--home", str(home), "query", "--story", "sample", question, "--at", "10", "-k", "3"]
    )
    assert table.exit_code == 0 and "as of chunk 10" in table.stdout
    bad = run(home, "query", "--story", "sample", "   ")
    assert bad.exit_code != 0 and "error: the question is empty" in bad.stderr


def test_dataset_from_the_ingested_sample(home: Path, tmp_path: Path) -> None:
    out = tmp_path / "chat.jsonl"
    args = [
        "dataset",
        "--story",
        "sample",
        "--out",
        str(out),
        "--format",
        "chat",
        "--budget",
        "900",
        "--val-fraction",
        "0.2",
        "--seed",
        "3",
        "--llm",
        "fake",
        "--json",
    ]
    result = run(home, *args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["leakage_violations"] == 0 and summary["invalid"] == 0
    train = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    val = [json.loads(line) for line in out.with_name("chat.val.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(train) == summary["train"] and len(val) == summary["validation"] > 0
    assert summary["samples"] == len(train) + len(val) == summary["leakage_checked"]
    for record in train + val:
        assert [m["role"] for m in record["messages"]] == ["system", "user", "assistant"]
        system, user, _ = (m["content"] for m in record["messages"])
        assert count_words_and_marks(system + "\n\n" + user) <= 900
    assert summary["prompt_tokens"]["max"] <= 900
    again = tmp_path / "again.jsonl"
    run(home, *[a if a != str(out) else str(again) for a in args])
    assert again.with_name("again.val.jsonl").read_bytes() == out.with_name("chat.val.jsonl").read_bytes()
    table = CliRunner(env={"COLUMNS": "200"}).invoke(
        app, ["--home", str(home), "dataset", "--story", "sample", "--out", str(tmp_path / "c.jsonl"), "--llm", "fake"]
    )
    assert table.exit_code == 0, table.output
    assert "leakage audit" in table.stdout and "0 violations" in table.stdout


def test_dataset_errors(home: Path, tmp_path: Path) -> None:
    bad_format = run(home, "dataset", "--story", "sample", "--out", str(tmp_path / "x.jsonl"), "--format", "xml", "--llm", "fake")
    assert bad_format.exit_code != 0 and "error: unknown --format" in bad_format.stderr
    missing = run(home, "dataset", "--story", "sample", "--story", "ghost", "--out", str(tmp_path / "x.jsonl"), "--llm", "fake")
    assert missing.exit_code != 0 and missing.stderr.startswith("error:")
    assert not (tmp_path / "x.jsonl").exists()
