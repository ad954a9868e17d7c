"""The plan built without the model: chapters titled by a key noun phrase of their
sentences (not the sentence's first words), and a plan that says it fell back, in
outline.md and in the manuscript."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import SAMPLE_DIR

from automuse_rag.errors import ModelError
from automuse_rag.generate import plan as plan_module, titles
from automuse_rag.generate.files import MANUSCRIPT_FILE, write_manuscript_file
from automuse_rag.generate.plan import (
    FALLBACK_NOTE,
    MANUSCRIPT_FALLBACK_NOTE,
    OUTLINE_FILE,
    fallback_plan,
    load_plan,
    make_plan,
    save_plan,
    title_from_premise,
)
from automuse_rag.memory.types import ChunkRecord
from automuse_rag.models.fake import ScriptedChatModel

SAMPLE_PREMISE = (SAMPLE_DIR / "premise.txt").read_text(encoding="utf-8")
HAND_WRITTEN = [
    "A lighthouse keeper named Ada finds a message in a bottle. The message speaks of a sunken ship off the northern "
    "cape. Ada rows out at night with her brother's old compass.",
    "When the last train leaves the valley, the stationmaster stays behind. In the empty station he finds a ledger of "
    "passengers who never arrived. Each name in the ledger belongs to someone in the village. He must decide whether "
    "to tell them.",
    "in a drowned city, a salvage diver searches the flooded library for a map of the old canals. "
    "the map shows a door beneath the cathedral.",
]
FUNCTION_WORDS = {"in", "when", "to", "he", "she", "they", "it", "as", "at", "on", "with", "but", "and", "if", "then"}


def _words(text: str) -> list[str]:
    return re.findall(r"[\w'’-]+", text.lower())


def assert_reads_as_titles(premise: str) -> list[str]:
    plan = fallback_plan(premise, chapters=4)
    got = [c.title for c in plan.chapters]
    assert len(set(got)) == len(got), got  # no two chapters alike
    for chapter in plan.chapters:
        words = _words(chapter.title)
        assert 1 <= len(words) <= 6, chapter.title
        assert words[0] not in FUNCTION_WORDS, chapter.title  # not "In A Hill Town Where"
        assert words[-1] not in FUNCTION_WORDS | {"where", "who", "that", "named", "the", "a"}, chapter.title  # a whole phrase
        assert chapter.title[0].isupper() and chapter.title == chapter.title.strip()
        content = [w for w in words if w not in {"the", "a", "an", "of", "and"}]
        assert all(w in _words(premise) for w in content), chapter.title  # the premise's own words
    return got


def test_the_sample_premise_gets_noun_phrase_titles() -> None:
    got = assert_reads_as_titles(SAMPLE_PREMISE)
    assert got == ["The Late Aunt's Workshop", "The Town's Elderly Water Bailiff", "A Wary Schoolboy"]


@pytest.mark.parametrize("premise", HAND_WRITTEN)
def test_hand_written_premises_get_noun_phrase_titles(premise: str) -> None:
    assert_reads_as_titles(premise)


def test_titles_by_example() -> None:
    assert [c.title for c in fallback_plan(HAND_WRITTEN[0]).chapters] == [
        "A Lighthouse Keeper",
        "A Sunken Ship",
        "The Brother's Old Compass",
    ]
    # "He must decide whether to tell them." has no noun phrase: the best unused one of the premise
    assert [c.title for c in fallback_plan(HAND_WRITTEN[1]).chapters] == [
        "The Last Train",
        "The Empty Station",
        "The Ledger",
        "The Valley",
    ]


def test_a_premise_without_names_is_titled_by_its_key_phrase() -> None:
    assert title_from_premise(HAND_WRITTEN[2], []) == "A Salvage Diver"
    assert title_from_premise(SAMPLE_PREMISE) == "The Story of Nora Fairley"


def test_title_case_keeps_small_words_and_possessives() -> None:
    assert titles.title_case("the town's rag-tag band of thieves") == "The Town's Rag-Tag Band of Thieves"


def test_without_spacy_the_titles_are_the_first_words(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing() -> None:
        raise ModelError("spaCy model en_core_web_sm is not installed")

    monkeypatch.setattr(plan_module, "pick_titles", lambda passages: missing())
    plan = fallback_plan(HAND_WRITTEN[0])
    assert plan.fallback and plan.chapters[0].title == "A Lighthouse Keeper Named Ada"


def test_the_outline_says_the_plan_fell_back_until_the_line_is_deleted(tmp_path: Path) -> None:
    plan = make_plan(SAMPLE_PREMISE, ScriptedChatModel([None]))
    assert plan.fallback
    save_plan(plan, tmp_path)
    outline = tmp_path / OUTLINE_FILE
    assert outline.read_text(encoding="utf-8").splitlines()[2] == FALLBACK_NOTE
    assert FALLBACK_NOTE not in plan.outline_text()  # prompts do not carry it
    again = load_plan(tmp_path)
    assert again is not None and again.fallback and again.chapters == plan.chapters
    outline.write_text(outline.read_text(encoding="utf-8").replace(FALLBACK_NOTE + "\n", ""), encoding="utf-8")
    edited = load_plan(tmp_path)
    assert edited is not None and not edited.fallback and edited.chapters == plan.chapters


def _record(index: int, chapter: int, title: str, text: str) -> ChunkRecord:
    return ChunkRecord(index=index, id=f"c{index}", chapter=chapter, chapter_title=title, text=text, summary="")


@pytest.mark.parametrize("fallback", [True, False])
def test_the_manuscript_says_the_plan_fell_back(tmp_path: Path, fallback: bool) -> None:
    plan = fallback_plan(SAMPLE_PREMISE)
    plan.fallback = fallback
    records = [_record(0, 1, f"Chapter 1: {plan.chapters[0].title}", "Nora opened the workshop.")]
    text = write_manuscript_file(tmp_path, plan, records).read_text(encoding="utf-8")
    assert (tmp_path / MANUSCRIPT_FILE).is_file()
    assert (MANUSCRIPT_FALLBACK_NOTE in text) is fallback
    assert text.startswith(f"# {plan.title}\n") and "## Chapter 1: The Late Aunt's Workshop" in text
