"""``automuse compare`` end to end on a real store of the sample story (ingested with
the extractive backend and the hash embedder, so no model is needed)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from automuse_rag.cli import app
from automuse_rag.compare import STRATEGIES

runner = CliRunner()


def ingest_sample(home: Path) -> None:
    res = runner.invoke(
        app, ["--home", str(home), "ingest", "sample", "--story", "sample", "--llm", "extractive", "--embedder", "hash", "--json"]
    )
    assert res.exit_code == 0, res.output


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("home")
    ingest_sample(home)
    return home


def test_compare_json_and_files(home: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    res = runner.invoke(
        app,
        [
            "--home",
            str(home),
            "compare",
            "--story",
            "sample",
            "--budget",
            "768",
            "--llm",
            "extractive",
            "--nll-samples",
            "0",
            "--positions",
            "0:30:2",
            "--out",
            str(out),
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data == json.loads((out / "report.json").read_text())
    assert list(data["strategies"]) == list(STRATEGIES)
    for _name, entry in data["strategies"].items():
        assert entry["positions"] == list(range(0, 30, 2))
        assert entry["nll"] == [None] * 15
    recall = {name: entry["entity_recall"] for name, entry in data["strategies"].items()}
    assert any(r is not None for r in recall["retrieval"])  # later chunks name entities met before
    # the unbounded rolling context holds the last-chunk context and every summary: it never names fewer
    for full, last in zip(recall["rolling_unbounded"], recall["last_chunk"], strict=True):
        assert (full is None) == (last is None)
        assert full is None or full >= last
    assert sum(filter(None, recall["rolling_unbounded"])) > sum(filter(None, recall["last_chunk"]))
    s = data["strategies"]
    assert s["retrieval"]["summary"]["over_budget_count"] == 0
    assert s["rolling_recursive"]["summary"]["over_budget_count"] == 0
    rec = s["rolling_recursive"]
    assert rec["summary"]["resummaries"] == rec["resummaries"][-1]
    assert rec["summary"]["resummaries_per_chunk"] == rec["resummaries"][-1] / 29  # positions 0..28
    assert s["retrieval"]["summary"]["resummaries"] is None and set(s["retrieval"]["resummaries"]) == {None}
    unbounded = s["rolling_unbounded"]["prompt_tokens"]
    assert unbounded[-1] > 2 * unbounded[0] and s["rolling_unbounded"]["summary"]["over_budget_count"] > 0
    # the memory behind retrieval is embedded; the rolling strategies embed nothing
    assert s["retrieval"]["memory_embeddings"][-1] > s["retrieval"]["memory_embeddings"][0] > 0
    assert s["rolling_unbounded"]["memory_embeddings"][-1] == 0
    for png in ("prompt_tokens_by_position.png", "entity_recall_by_position.png", "nll_by_strategy.png"):
        assert (out / png).stat().st_size > 5_000


def test_compare_table(home: Path, tmp_path: Path) -> None:
    res = runner.invoke(
        app,
        [
            "--home",
            str(home),
            "compare",
            "--story",
            "sample",
            "--llm",
            "extractive",
            "--nll-samples",
            "0",
            "--positions",
            "5,10",
            "--no-plots",
            "--out",
            str(tmp_path),
        ],
    )
    assert res.exit_code == 0, res.output
    for name in STRATEGIES:
        assert name in res.output
    assert re.search(r"rolling_recursive: \d+ re-summaries over 11 chunks \(\d\.\d\d per chunk\)", res.output)
    assert (tmp_path / "report.md").is_file() and not (tmp_path / "nll_by_strategy.png").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--story", "nosuch"], "nosuch"),
        (["--story", "sample", "--positions", "1:x"], "--positions"),
        (["--story", "sample", "--positions", "500"], "out of range"),
        (["--story", "sample", "--nll-samples", "2"], "log-probabilities"),
        (["--story", "sample", "--budget", "4"], "budget"),
    ],
)
def test_compare_user_errors(home: Path, tmp_path: Path, args: list[str], message: str) -> None:
    res = runner.invoke(app, ["--home", str(home), "compare", "--llm", "extractive", "--out", str(tmp_path / "r"), *args])
    assert res.exit_code != 0
    last = res.output.strip().splitlines()[-1]
    assert last.startswith("error:") and message in last and "Traceback" not in res.output


def test_help_has_an_example() -> None:
    for cmd in ("compare", "graph"):
        res = runner.invoke(app, [cmd, "--help"])
        assert res.exit_code == 0 and "Example: automuse " + cmd in res.output


def test_nll_on_twenty_positions_by_default(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from automuse_rag.cli import compare as compare_cli
    from automuse_rag.models.fake import ScriptedChatModel

    class Scorer(ScriptedChatModel):
        def continuation_nll(self, context: str, continuation: str) -> tuple[float, int]:
            words = continuation.split()
            return sum(w not in context for w in words) / len(words), len(words)

    monkeypatch.setattr(compare_cli, "get_chat_model", lambda spec, cfg, **kw: Scorer())
    out = tmp_path / "r"
    res = runner.invoke(
        app, ["--home", str(home), "compare", "--story", "sample", "--budget", "700", "--no-plots", "--out", str(out), "--json"]
    )
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert len(data["nll_positions"]) == 20
    for entry in [*data["strategies"].values(), *data["ablations"].values()]:
        assert entry["summary"]["nll_samples"] == 20 and entry["summary"]["nll_vs_last_chunk"]["n"] == 20
