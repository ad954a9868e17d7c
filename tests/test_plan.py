"""The plan: one structured call, validated and repaired, a deterministic fallback, and
editable files that the next run reads back."""

from __future__ import annotations

from pathlib import Path

import pytest

from automuse_rag.errors import InputError
from automuse_rag.generate.plan import (
    CAST_FILE,
    OUTLINE_FILE,
    fallback_plan,
    load_plan,
    make_plan,
    parse_outline,
    save_plan,
)
from automuse_rag.models.fake import ScriptedChatModel

PREMISE = (
    "In a hill town where the river has run dry, a young clockmaker named Nora Fairley inherits her aunt's workshop. "
    "Every clock in it has stopped at the same minute. The water bailiff Tobias Crane begs her to mend the tower clock. "
    "She learns the stopped hands record the night the old dam was opened."
)

GOOD = {
    "title": "The Stopped Minute",
    "chapters": [
        {
            "number": 2,
            "title": "The Bailiff",
            "plan": "Tobias Crane asks Nora to mend the tower clock before the fair. She agrees, unwillingly.",
        },
        {
            "number": 1,
            "title": "The Workshop",
            "plan": "Nora arrives in the dry town and opens her aunt's workshop. Every clock has stopped.",
        },
    ],
    "cast": [
        {"name": "Nora Fairley", "kind": "character", "description": "a young clockmaker"},
        {"name": "Tobias Crane", "kind": "character", "description": "the old water bailiff"},
        {"name": "the tower", "kind": "place", "description": "the town's clock tower"},
    ],
}
JUNK = {
    "chapters": [
        {"number": 1, "title": "The Clockmaker's Guide", "plan": "The Clockmaker's Guide: A Novel"},
        {"number": 2, "title": "The Clockmaker's Guide", "plan": "The Clockmaker's Guide: A Novel"},
    ],
    "cast": [],
}


def test_a_valid_plan_is_cleaned_and_renumbered_in_order() -> None:
    llm = ScriptedChatModel([GOOD])
    plan = make_plan(PREMISE, llm, chapters=2)
    assert not plan.fallback
    assert [(c.number, c.title) for c in plan.chapters] == [(1, "The Workshop"), (2, "The Bailiff")]
    assert plan.title == "The Stopped Minute"
    assert {m.kind for m in plan.cast} == {"character", "place"}
    assert len(llm.calls) == 1 and llm.calls[0][0] == "structured"


def test_style_reaches_the_planning_prompt() -> None:
    llm = ScriptedChatModel([GOOD])
    make_plan(PREMISE, llm, style="write like a Victorian gentleman")
    assert "Victorian gentleman" in llm.calls[0][1][-1]["content"]


def test_junk_is_repaired_once_with_the_reason() -> None:
    llm = ScriptedChatModel([JUNK, GOOD])
    plan = make_plan(PREMISE, llm)
    assert not plan.fallback and plan.chapters[0].title == "The Workshop"
    assert len(llm.calls) == 2
    repair = llm.calls[1][1][-1]["content"]
    assert "not usable" in repair


def test_junk_twice_falls_back_to_the_premise() -> None:
    llm = ScriptedChatModel([JUNK, JUNK])
    plan = make_plan(PREMISE, llm, chapters=3)
    assert plan.fallback
    assert len(plan.chapters) == 3
    joined = " ".join(c.plan for c in plan.chapters)
    assert "tower clock" in joined and "old dam" in joined  # every premise sentence is used
    names = [m.name for m in plan.cast]
    assert "Nora Fairley" in names and "Tobias Crane" in names
    assert "Nora" not in names  # a part of a longer name is not a second character


def test_a_backend_without_structured_output_gets_the_fallback() -> None:
    llm = ScriptedChatModel([None])
    plan = make_plan(PREMISE, llm)
    assert plan.fallback and len(llm.calls) == 1


def test_one_sentence_premise_gives_one_chapter() -> None:
    plan = fallback_plan("A lighthouse keeper named Ada finds a message in a bottle.", chapters=4)
    assert len(plan.chapters) == 1 and plan.chapters[0].number == 1


def test_empty_premise_is_an_input_error() -> None:
    with pytest.raises(InputError):
        make_plan("   ", ScriptedChatModel([GOOD]))


def test_files_round_trip_and_edits_are_read(tmp_path: Path) -> None:
    plan = make_plan(PREMISE, ScriptedChatModel([GOOD]))
    save_plan(plan, tmp_path)
    again = load_plan(tmp_path)
    assert again is not None
    assert again.chapters == plan.chapters and again.cast == plan.cast and again.title == plan.title
    outline = tmp_path / OUTLINE_FILE
    outline.write_text(
        outline.read_text().replace("The Bailiff", "The Water Bailiff")
        + "\n## Chapter 3: The Fair\n\nThe fair opens and the clock strikes at last.\n"
    )
    edited = load_plan(tmp_path)
    assert edited is not None
    assert [c.title for c in edited.chapters] == ["The Workshop", "The Water Bailiff", "The Fair"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("# Title\n\nno chapters at all\n", "no chapters found"),
        ("## Chapter 1: A\n\nplan one\n\n## Chapter 3: C\n\nplan three\n", "numbered 1, 2, 3"),
        ("## Chapter 1: A\n\n## Chapter 2: B\n\nplan\n", "chapter 1 has no plan"),
        ("## Chapter 1: A\n\nplan\n\n## The end\n", "is not like '## Chapter N: Title'"),
    ],
)
def test_broken_outline_edits_are_clear_errors(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_outline(text, "outline.md")


def test_broken_cast_edit_is_a_clear_error(tmp_path: Path) -> None:
    save_plan(make_plan(PREMISE, ScriptedChatModel([GOOD])), tmp_path)
    (tmp_path / CAST_FILE).write_text('[[characters]]\nname = "Nora\n')
    with pytest.raises(InputError, match="not valid TOML"):
        load_plan(tmp_path)
    (tmp_path / CAST_FILE).write_text("[[characters]]\ndescription = 'no name'\n")
    with pytest.raises(InputError, match="needs a name"):
        load_plan(tmp_path)
