"""The degeneration guard: real prose passes, degenerate text fails with the right reason."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest
from conftest import gutenberg_path

from automuse_rag.generate import guard
from automuse_rag.generate.artefacts import strip_artefacts
from automuse_rag.models.fake import HashEmbedder


def _book_chunks(shared: Path, book_id: int) -> list[str]:
    from automuse_rag.text.chunk import chunk_book
    from automuse_rag.text.clean import clean_text

    path = gutenberg_path(shared, book_id)
    book = clean_text(path.read_text(encoding="utf-8-sig"), str(path), book_id)
    return [c.text for c in chunk_book(book, f"pg{book_id}", 1500)]


@pytest.mark.parametrize("book_id", [11, 84])
def test_every_chunk_of_a_real_book_passes(shared_data: Path, book_id: int) -> None:
    chunks = _book_chunks(shared_data, book_id)
    embedder = HashEmbedder(64)

    @cache
    def vec(text: str) -> tuple[float, ...]:
        return tuple(embedder.embed([text])[0])

    def embed(texts: list[str]) -> list[list[float]]:
        return [list(vec(t)) for t in texts]

    failures = []
    for i, text in enumerate(chunks):
        if len(guard.words(text)) < guard.DEFAULT_THRESHOLDS.min_words:
            continue  # a chapter's short tail: the length rule is for generated chunks only
        result = guard.check(
            text, previous=chunks[max(0, i - 40) : i], prompt=chunks[i - 1] if i else "", embed=embed, embedder_name=embedder.name
        )
        if not result.ok:
            failures.append((i, result.reasons))
    assert len(chunks) > 100
    assert failures == []


PROSE = (
    "Nora set the lamp on the bench and opened the back of the clock. The brass wheels "
    "were clean, the spring was wound tight, and still the hands would not move. She "
    "frowned, lifted the pendulum free, and held it to the light. A thread of dried mud "
    "ran along its edge, the colour of the riverbed that had been dry for three summers. "
    "Outside, the bailiff's cart rattled past the window and stopped at the corner. "
    "Someone knocked twice, waited, and knocked again, harder this time."
)


def test_ordinary_prose_passes_with_every_metric_recorded() -> None:
    result = guard.check(PROSE, previous=[], prompt="Write the next chunk.", embed=None)
    assert result.ok, result.reasons
    for key in ("distinct4", "compression", "max_sentence_repeats", "prompt_run", "previous_overlap"):
        assert key in result.metrics


def test_a_sentence_repeated_fails_on_repetition_and_compression() -> None:
    text = PROSE + " " + " ".join(["The clock stopped at midnight and nobody knew why."] * 12)
    result = guard.check(text, previous=[], prompt="", embed=None)
    assert not result.ok
    joined = " ".join(result.reasons)
    assert "repeated sentence" in joined
    assert "compression ratio" in joined
    assert result.metrics["max_sentence_repeats"] == 12


def test_an_ngram_loop_fails_on_distinct4() -> None:
    loop = " ".join(["she went to the door and she went to the window and"] * 8)
    result = guard.check(PROSE + " " + loop, previous=[], prompt="", embed=None)
    assert any(r.startswith("repeated n-grams") for r in result.reasons)
    assert result.metrics["distinct4"] < guard.DEFAULT_THRESHOLDS.min_distinct4


def test_a_copy_of_an_earlier_chunk_is_a_near_duplicate() -> None:
    embedder = HashEmbedder(64)
    earlier = [PROSE]
    result = guard.check(
        PROSE.replace("Nora", "Nell"), previous=earlier, prompt="", embed=embedder.embed, embedder_name=embedder.name
    )
    assert not result.ok
    reasons = " ".join(result.reasons)
    assert "near-duplicate of an earlier chunk: 8-gram" in reasons
    assert "embedding similarity" in reasons


def test_similarity_is_only_judged_for_calibrated_embedders() -> None:
    embedder = HashEmbedder(64)
    result = guard.check(PROSE, previous=[PROSE + " x"], prompt="", embed=embedder.embed, embedder_name="openai:some-model")
    assert "max_similarity" not in result.metrics
    assert not any("embedding similarity" in r for r in result.reasons)


def test_text_copied_from_the_prompt_is_caught() -> None:
    prompt = "STORY OUTLINE:\n" + PROSE + "\nNEXT CHUNK:"
    result = guard.check(PROSE, previous=[], prompt=prompt, embed=None)
    assert any(r.startswith("copied from the prompt") for r in result.reasons)
    assert result.metrics["prompt_run"] >= len(guard.words(PROSE)) - 1


def test_too_short_is_rejected() -> None:
    result = guard.check("She waited.", previous=[], prompt="", embed=None)
    assert any(r.startswith("too short") for r in result.reasons)


def test_compression_rises_with_repetition() -> None:
    """The original's degenerate output rose from ~2 towards 20: a synthetic series of
    chunks with more and more copies of one sentence does the same."""
    series = []
    for copies in range(0, 30, 5):
        text = PROSE + " " + " ".join(["He said the clock was broken."] * copies)
        series.append(guard.compression_ratio(text))
    assert series == sorted(series)
    assert series[0] < guard.DEFAULT_THRESHOLDS.max_compression < series[-1]


def test_strip_artefacts_keeps_prose_and_drops_chat_talk() -> None:
    raw = (
        "Sure! Here is the next chunk:\n\n## Chapter 2: The Dam\n\n**Nora** walked to the dam.\n"
        "The water was gone.\n\nLet me know if you would like me to continue the story!\n\n"
        "A few more sentences that add to the story:\n\n"
        "She turned back toward the town. Behind her the half-finished"
    )
    clean = strip_artefacts(raw)
    assert clean == "Nora walked to the dam. The water was gone.\n\nShe turned back toward the town."


@pytest.mark.parametrize(
    "markup",
    [
        "<> [INST] >>",  # Llama 2's format, half echoed (a GGUF without a chat template)
        "[INST] <<SYS>>",
        "<</SYS>> [/INST]",
        "<start_of_turn>model",  # Gemma's turn markers
        "<end_of_turn>",
    ],
)
def test_strip_artefacts_drops_prompt_format_markup(markup: str) -> None:
    # Found writing with Gemma 3 270M, whose GGUF has no chat template: the stored
    # manuscript kept a paragraph "<> [INST] >>" between two of its sentences.
    raw = f"She is shocked, as she does not understand why.\n\n{markup}\n\nThe tower clock struck one."
    assert strip_artefacts(raw) == "She is shocked, as she does not understand why.\n\nThe tower clock struck one."
    inline = f"She is shocked. {markup} The tower clock struck one."
    assert strip_artefacts(inline) == "She is shocked. The tower clock struck one."


def test_drop_echoes_removes_what_was_copied_from_the_prompt() -> None:
    from automuse_rag.generate.artefacts import drop_echoes

    new = "Then a knock came at the window, soft and slow. Tobias Crane stood outside in the rain."
    echoed = drop_echoes(PROSE + "\n\n" + new, ["LAST CHUNK:\n" + PROSE])
    assert echoed == new
    assert drop_echoes(new, [PROSE]) == new  # nothing copied, nothing dropped
