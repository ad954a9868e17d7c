"""The default embedder (all-MiniLM-L6-v2, offline) and the doctor/complete commands."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from automuse_rag.cli import app
from automuse_rag.models.base import Embedder
from automuse_rag.models.embedders import MiniLMEmbedder
from automuse_rag.models.registry import get_embedder
from automuse_rag.settings import get_settings

pytestmark = pytest.mark.slow


def _cos(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b))


@pytest.fixture(scope="module")
def minilm() -> MiniLMEmbedder:
    embedder = get_embedder("minilm", get_settings())
    assert isinstance(embedder, MiniLMEmbedder)
    return embedder


def test_minilm_loads_offline_with_a_stable_name_and_dimension(minilm: MiniLMEmbedder) -> None:
    assert isinstance(minilm, Embedder)
    assert minilm.name == "minilm:all-MiniLM-L6-v2" and minilm.dimension == 384
    vectors = minilm.embed(["The whale swam away.", ""])
    assert [len(v) for v in vectors] == [384, 384]
    assert math.isclose(math.sqrt(_cos(vectors[0], vectors[0])), 1.0, rel_tol=1e-4)
    assert minilm.embed([]) == []


def test_similar_meanings_are_closer(minilm: MiniLMEmbedder) -> None:
    a, b, c = minilm.embed(
        [
            "Elizabeth refused Mr. Darcy's proposal of marriage.",
            "She turned down Darcy when he asked her to marry him.",
            "The monster fled across the frozen Arctic ice.",
        ]
    )
    assert _cos(a, b) > _cos(a, c) + 0.2


def test_batching_does_not_change_vectors(minilm: MiniLMEmbedder) -> None:
    texts = [f"Sentence number {i} about a lighthouse keeper and his lamp." for i in range(40)]
    together = minilm.embed(texts)
    alone = [minilm.embed([t])[0] for t in texts[:3]]
    for x, y in zip(together[:3], alone):
        assert _cos(x, y) > 0.9999


def test_doctor_reports_ok_backends_as_json(home: Path) -> None:
    result = CliRunner().invoke(app, ["doctor", "--llm", "extractive", "--embedder", "minilm", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["ok"] is True
    assert [c["spec"] for c in data["checks"]] == ["extractive", "minilm"]
    assert "384 dimensions" in data["checks"][1]["detail"]
    assert any("model" in f for f in data["checks"][1]["files"])
    assert data["versions"]["sentence-transformers"] != "missing"


def test_doctor_fails_with_a_fix_and_nonzero_exit(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "AUTOMUSE_OPENAI_API_KEY", "AUTOMUSE_OPENAI_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    result = CliRunner().invoke(app, ["doctor", "--llm", "openai:gpt-4o-mini", "--embedder", "hash", "--json"])
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    failed = data["checks"][0]
    assert data["ok"] is False and failed["ok"] is False
    assert "OPENAI_API_KEY" in failed["detail"] and failed["fix"]
    assert data["checks"][1]["ok"] is True


def test_doctor_checks_the_configured_local_model(home: Path) -> None:
    table = CliRunner().invoke(app, ["doctor", "--embedder", "hash"])
    assert table.exit_code == 0, table.output
    assert "backends" in table.output and "versions:" in table.output
    data = json.loads(CliRunner().invoke(app, ["doctor", "--embedder", "hash", "--json"]).stdout)
    local = data["checks"][0]
    assert local["spec"] == "local" and local["ok"] is True
    assert "SmolLM2-135M-Instruct" in local["files"][0] and "context window 8192" in local["detail"]


def test_complete_help_has_an_example() -> None:
    for command in ("complete", "doctor"):
        result = CliRunner().invoke(app, [command, "--help"])
        assert result.exit_code == 0 and "Example: automuse " + command in result.output
