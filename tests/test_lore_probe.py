"""Measured capabilities: the lore probe (``automuse doctor``) recorded per model
identity, and what ingest does with it; the schema-sized max_tokens. Against loopback
OpenAI-compatible servers (tests/loopback.py) that answer valid or useless lore."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import SAMPLE_DIR
from fault_server import lore_reply
from loopback import Loopback, last_user
from typer.testing import CliRunner

from automuse_rag.cli import app
from automuse_rag.lore.extract import ChunkLoreReply
from automuse_rag.lore.probe import (
    PASSAGES,
    capabilities_path,
    lore_mode,
    recorded,
)
from automuse_rag.models.base import Sampling
from automuse_rag.models.registry import get_chat_model
from automuse_rag.models.structured import fit_max_tokens, max_answer_tokens
from automuse_rag.settings import get_settings


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "AUTOMUSE_OPENAI_API_KEY", "AUTOMUSE_OPENAI_BASE_URL", "AUTOMUSE_LORE_MODE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AUTOMUSE_OPENAI_MAX_RETRIES", "0")


def good(body, headers):
    text = last_user(body)
    if text.startswith("Passage (chapter"):
        return 200, json.dumps(lore_reply(text)), (50, 20)
    return 200, "OK " + " ".join(text.split()[:30]), (10, 5)


def useless(body, headers):
    return 200, "I am sorry, I cannot do that.", (10, 5)


def _lore_requests(server: Loopback) -> int:
    return sum(last_user(b).startswith("Passage (chapter") for b in server.requests)


def test_doctor_records_a_capable_server(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with Loopback(good) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        result = CliRunner().invoke(app, ["doctor", "--llm", "openai:m", "--embedder", "hash", "--json"])
        assert result.exit_code == 0, result.output
        check = json.loads(result.stdout)["checks"][0]
        assert check["lore"]["lore"] is True and check["lore"]["valid"] == len(PASSAGES)
        assert "ingest lore: model" in check["detail"]
        assert _lore_requests(server) == len(PASSAGES)
        again = json.loads(CliRunner().invoke(app, ["doctor", "--llm", "openai:m", "--embedder", "hash", "--json"]).stdout)
        assert again["checks"][0]["lore"]["lore"] is True
        assert _lore_requests(server) == len(PASSAGES)  # recorded: not probed twice
        CliRunner().invoke(app, ["doctor", "--llm", "openai:m", "--embedder", "hash", "--reprobe"])
        assert _lore_requests(server) == 2 * len(PASSAGES)
    data = json.loads(capabilities_path(get_settings()).read_text())
    assert [v["model"] for v in data.values()] == [f"openai:m@{server.base_url}"]


def test_a_model_without_valid_lore_is_ingested_extractively(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with Loopback(useless) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        doctor = CliRunner().invoke(app, ["doctor", "--llm", "openai:m", "--embedder", "hash", "--json"])
        check = json.loads(doctor.stdout)["checks"][0]
        assert doctor.exit_code == 0 and check["ok"] is True  # it works; it just cannot do lore
        assert check["lore"]["lore"] is False and "extractive" in check["detail"]
        probed = len(server.requests)
        args = [
            "ingest",
            str(SAMPLE_DIR / "story.txt"),
            "--story",
            "s",
            "--llm",
            "openai:m",
            "--embedder",
            "hash:16",
            "--size",
            "8000",
            "--json",
        ]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        data = json.loads(result.stdout)
        assert data["lore"] == "extractive" and data["model_calls"] == 0
        assert len(server.requests) == probed  # neither chunks nor the outline asked the model
        assert result.output.count("cannot return valid structured lore") == 1
        assert "AUTOMUSE_LORE_MODE=model" in result.output
        # forcing the model path asks it (and falls back per chunk on its useless answers)
        forced = CliRunner().invoke(app, [*args[:3], "forced", *args[4:]], env={"AUTOMUSE_LORE_MODE": "model"})
        assert forced.exit_code == 0, forced.output
        assert json.loads(forced.stdout)["lore"] == "model" and _lore_requests(server) > 0
        assert "cannot return" not in forced.output


def test_an_unprobed_server_is_trusted_and_extractive_mode_never_asks(home: Path) -> None:
    with Loopback(good) as server:
        settings = get_settings(openai_base_url=server.base_url)
        model = get_chat_model("openai:m", settings)
        assert lore_mode(settings, model) == ("model", None)
        assert server.requests == [] and recorded(settings, model) is None
        assert lore_mode(get_settings(openai_base_url=server.base_url, lore_mode="extractive"), model)[0] == "extractive"
        assert lore_mode(settings, get_chat_model("extractive", settings)) == ("extractive", None)
    bad = CliRunner().invoke(app, ["ingest", "x", "--llm", "extractive"], env={"AUTOMUSE_LORE_MODE": "sometimes"})
    assert bad.exit_code == 2 and bad.output.startswith("error: bad setting lore_mode")


def test_a_local_identity_is_probed_once(home: Path) -> None:
    """A non-remote model with no record is probed; the record then answers (per identity)."""
    from automuse_rag.models.cache import CachedChatModel
    from automuse_rag.models.fake import ScriptedChatModel

    class Tiny(ScriptedChatModel):
        cacheable = True  # a stable identity: its probe is recorded
        identity = "tiny@/models/tiny.gguf:123:456"

    settings = get_settings()
    inner = Tiny(lambda messages, sampling: "not json at all")
    model = CachedChatModel(inner, None)
    mode, note = lore_mode(settings, model)
    assert mode == "extractive" and "cannot return valid structured lore" in note
    asked = len(inner.calls)
    assert asked >= len(PASSAGES)
    assert lore_mode(settings, model)[0] == "extractive" and len(inner.calls) == asked  # recorded
    other = Tiny(lambda messages, sampling: json.dumps(lore_reply(messages[-1]["content"])))
    other.identity = "tiny@/models/tiny.gguf:999:456"  # same path, another file
    assert lore_mode(settings, CachedChatModel(other, None)) == ("model", None)


def test_max_tokens_fits_the_lore_schema() -> None:
    bound = max_answer_tokens(ChunkLoreReply.model_json_schema())
    assert bound is not None and 1000 < bound < 4000
    assert fit_max_tokens(Sampling(max_tokens=128), ChunkLoreReply.model_json_schema()).max_tokens == bound
    assert fit_max_tokens(Sampling(max_tokens=9000), ChunkLoreReply.model_json_schema()).max_tokens == 9000
    assert fit_max_tokens(Sampling(max_tokens=128), ChunkLoreReply.model_json_schema(), limit=1024).max_tokens == 1024
    unbounded = {"type": "object", "properties": {"name": {"type": "string"}}}
    assert fit_max_tokens(Sampling(max_tokens=64), unbounded).max_tokens == 64


def test_the_longest_valid_lore_fits_its_max_tokens() -> None:
    """A maximal ChunkLoreReply, tokenised at 3 characters a token, fits the bound."""
    item = {"name": "N" * 60, "kind": "character", "aliases": ["A" * 60] * 3, "description": "d" * 200}
    longest = {
        "summary": "s" * 700,
        "items": [item] * 8,
        "relations": [{"source": "x" * 60, "target": "y" * 60, "label": "z" * 40}] * 4,
    }
    ChunkLoreReply.model_validate(longest)
    assert len(json.dumps(longest)) / 3 <= max_answer_tokens(ChunkLoreReply.model_json_schema())


def test_doctor_fails_a_model_that_answers_nothing(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A chat model whose reply is empty cannot write anything: the doctor says so and
    exits 1 instead of reporting "ok" (found with a GGUF that has no chat template:
    llama.cpp's generic prompt made it answer "" to every message)."""
    with Loopback(lambda body, headers: (200, "", (10, 0))) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        result = CliRunner().invoke(app, ["doctor", "--llm", "openai:m", "--embedder", "hash", "--json"])
        assert result.exit_code == 1, result.output
        check = json.loads(result.stdout)["checks"][0]
        assert check["ok"] is False and "answered nothing" in check["detail"]
        assert _lore_requests(server) == 0  # no probe of a model that cannot answer
        table = CliRunner().invoke(app, ["doctor", "--llm", "openai:m", "--embedder", "hash"])
        assert table.exit_code == 1 and "Traceback" not in table.output
