"""Eight chunks from the project's premise with the embedded local model
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
CHUNKS = 8


@pytest.mark.slow
@pytest.mark.timeout(1800)  # a plan and eight chunks on 2 cores: twelve took ~10 min here when other jobs shared them
def test_eight_local_chunks_and_none_fails_the_guard(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    premise = REPO / "books" / "sample" / "premise.txt"
    settings = get_settings(home=tmp_path, embedder="minilm", chunk_tokens=220, n_ctx=4096)
    result = generate_story(settings, "local-eight", str(premise), chunks=CHUNKS, llm="local", analysis_llm="extractive")
    assert result.chunks == CHUNKS and result.new_chunks == CHUNKS

    memory = StoryMemory.open(settings, "local-eight")
    try:
        records = memory.latest().records()
        texts = [r.text for r in records]
        vectors = memory.embedder.embed(texts)
    finally:
        memory.close()
    by_text = dict(zip(texts, vectors))

    def embed(batch: list[str]) -> list[list[float]]:
        return [by_text[t] for t in batch]

    assert [r.index for r in records] == list(range(CHUNKS))
    for i, text in enumerate(texts):
        check = guard.check(text, previous=texts[max(0, i - 40) : i], prompt="", embed=embed, embedder_name="minilm")
        assert check.ok, (i, check.reasons)
    assert len(set(texts)) == CHUNKS
    assert result.words >= CHUNKS * guard.DEFAULT_THRESHOLDS.min_words
    # the chapters follow the plan's numbering and the manuscript holds every chunk
    assert [r.chapter for r in records] == sorted(r.chapter for r in records)
    manuscript = Path(result.manuscript).read_text(encoding="utf-8")
    assert all(t[:50] in manuscript for t in texts)
    # every rejection (if any) was logged with its reasons
    assert all(entry["reasons"] for entry in read_rejections(Path(result.path)))
