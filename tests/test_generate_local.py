"""Twelve chunks from the project's premise with the embedded local model
(SmolLM2-135M through llama.cpp): every stored chunk passes the degeneration guard.

Chunk analysis uses ``extractive`` to keep the test within its time (the writing, the
plan and the chapter checks are the local model's)."""

from __future__ import annotations

from pathlib import Path

import pytest

from automuse_rag.generate import generate_story, guard
from automuse_rag.generate.files import read_rejections
from automuse_rag.memory.story import StoryMemory
from automuse_rag.settings import get_settings

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.timeout(1800)  # a plan and twelve chunks on 2 cores: ~10 min here when other jobs share them
def test_twelve_local_chunks_and_none_fails_the_guard(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    premise = REPO / "books" / "sample" / "premise.txt"
    settings = get_settings(home=tmp_path, embedder="minilm", chunk_tokens=220, n_ctx=4096)
    result = generate_story(settings, "local-twelve", str(premise), chunks=12, llm="local", analysis_llm="extractive")
    assert result.chunks == 12 and result.new_chunks == 12

    memory = StoryMemory.open(settings, "local-twelve")
    try:
        records = memory.records()
        texts = [r.text for r in records]
        vectors = memory.embedder.embed(texts)
    finally:
        memory.close()
    by_text = dict(zip(texts, vectors))

    def embed(batch: list[str]) -> list[list[float]]:
        return [by_text[t] for t in batch]

    assert [r.index for r in records] == list(range(12))
    for i, text in enumerate(texts):
        check = guard.check(text, previous=texts[max(0, i - 40) : i], prompt="", embed=embed, embedder_name="minilm")
        assert check.ok, (i, check.reasons)
    assert len(set(texts)) == 12
    assert result.words >= 12 * guard.DEFAULT_THRESHOLDS.min_words
    # the chapters follow the plan's numbering and the manuscript holds every chunk
    assert [r.chapter for r in records] == sorted(r.chapter for r in records)
    manuscript = Path(result.manuscript).read_text(encoding="utf-8")
    assert all(t[:50] in manuscript for t in texts)
    # every rejection (if any) was logged with its reasons
    assert all(entry["reasons"] for entry in read_rejections(Path(result.path)))
