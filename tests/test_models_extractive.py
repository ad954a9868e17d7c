"""The extractive backend: summaries without a model, structured -> None, no prose."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import gutenberg_path
from pydantic import BaseModel
from typer.testing import CliRunner

from automuse_rag.cli import app
from automuse_rag.errors import ModelError
from automuse_rag.models.base import ChatModel
from automuse_rag.models.extractive import ExtractiveChatModel, extractive_summary, split_sentences
from automuse_rag.models.registry import get_chat_model
from automuse_rag.settings import get_settings

TEXT = (
    "The lighthouse stood on the rock. The keeper of the lighthouse lit the lamp each night. "
    "Bananas are yellow. The lamp of the lighthouse warned the ships about the rock. "
    "Nobody knew why."
)


def test_summary_keeps_the_most_central_sentences_in_order() -> None:
    summary = extractive_summary(TEXT, max_sentences=2)
    sentences = split_sentences(summary)
    assert len(sentences) == 2
    assert "Bananas" not in summary and "Nobody" not in summary
    originals = split_sentences(TEXT)
    positions = [originals.index(s) for s in sentences]
    assert positions == sorted(positions)


def test_summary_of_short_or_empty_text() -> None:
    assert extractive_summary("", 3) == ""
    assert extractive_summary("One sentence only.", 3) == "One sentence only."
    with pytest.raises(ValueError):
        extractive_summary(TEXT, 0)


def test_summary_of_a_real_chunk_is_made_of_its_sentences(shared_data: Path) -> None:
    chunk = gutenberg_path(shared_data, 84).read_text(encoding="utf-8-sig")[40_000:42_000]
    summary = extractive_summary(chunk, 3)
    flat = " ".join(chunk.split())
    sentences = split_sentences(summary)
    assert 1 <= len(sentences) <= 3
    assert all(s in flat for s in sentences)
    assert len(summary) < len(flat)


def test_backend_summarizes_returns_none_for_structured_and_refuses_prose() -> None:
    model = get_chat_model("extractive", get_settings())
    assert isinstance(model, ExtractiveChatModel) and isinstance(model, ChatModel)

    class Anything(BaseModel):
        x: int

    assert model.structured([{"role": "user", "content": "x"}], Anything) is None
    assert model.summarize(TEXT, 1) == extractive_summary(TEXT, 1)
    assert model.count_tokens(TEXT) >= len(TEXT.split())
    with pytest.raises(ModelError, match="cannot write prose"):
        model.chat([{"role": "user", "content": "Write a story."}])


def test_cli_complete_with_extractive_is_a_one_line_error(home: Path) -> None:
    result = CliRunner().invoke(app, ["complete", "Write a story.", "--llm", "extractive"])
    assert result.exit_code == 3
    assert "error: the extractive backend" in result.output
    assert "Traceback" not in result.output
