"""Roles the plan fixes (lore/roles.py): the plan's only clockmaker is the story's
clockmaker, and a passage that names someone else so is a contradiction, in the
checker and in generation (the demo's "The clockmaker's name was Emily")."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from gen_helpers import PLAN, PREMISE, Script
from typer.testing import CliRunner

from automuse_rag.cli import app
from automuse_rag.generate import generate_story
from automuse_rag.generate.continuity import confirms
from automuse_rag.generate.files import read_rejections
from automuse_rag.generate.loop import options_from_settings
from automuse_rag.lore.chunk_view import ChunkView
from automuse_rag.lore.ner import get_nlp, ner_text
from automuse_rag.lore.roles import PLAN_CHUNK, plan_role_facts, role_breaks
from automuse_rag.memory.story import StoryMemory
from automuse_rag.models.fake import HashEmbedder, ScriptedChatModel
from automuse_rag.settings import get_settings
from automuse_rag.web import open_app

CAST = [("Nora Fairley", "a young clockmaker"), ("Tobias Crane", "the old water bailiff")]


def test_a_role_only_one_cast_member_has_is_a_plan_fact() -> None:
    (fact,) = plan_role_facts(CAST)
    assert (fact.kind, fact.name, fact.value, fact.chunk) == ("role", "Nora Fairley", "clockmaker", PLAN_CHUNK)
    assert plan_role_facts([*CAST, ("Emily Hart", "a clockmaker from the valley")]) == []  # two clockmakers: no one is *the*


def _breaks(text: str) -> list[str]:
    nlp = get_nlp()
    view = ChunkView(nlp(ner_text(nlp, text)))
    return [holder for _, holder, _ in role_breaks(view, plan_role_facts(CAST), lambda name: None)]


@pytest.mark.parametrize(
    "text, holder",
    [
        ("The clockmaker's name was Emily. She opened the shop at nine.", "Emily"),
        ("The name of the clockmaker was Emily Hart.", "Emily Hart"),
        ("The clockmaker Emily Hart opened the shop.", "Emily Hart"),
        ("The clockmaker, Emily, opened the shop.", "Emily"),
    ],
)
def test_another_holder_of_the_plans_role_is_found(text: str, holder: str) -> None:
    assert _breaks(text) == [holder]


@pytest.mark.parametrize(
    "text",
    [
        "The clockmaker's name was Nora Fairley.",  # the plan's holder
        "Nora, the clockmaker, opened the shop.",  # by part of her name
        "The clockmaker, Miss Fairley, opened the shop.",
        "An old clockmaker from the valley, Peter Holt, came to the fair.",  # a clockmaker, not the clockmaker
        "Was the clockmaker's name Emily?",  # a question
        "The clockmaker's daughter was called Emily.",  # someone else's role
        "The baker's name was Emily.",  # a role the plan gives no one
    ],
)
def test_the_plans_holder_and_other_clockmakers_are_left_alone(text: str) -> None:
    assert _breaks(text) == []


EMILY = (
    "The clockmaker's name was Emily. She had come up from the valley in the spring with a box of tools and a letter "
    "from her aunt, and the town had watched her open the shutters of the workshop on the square. Every clock inside "
    "had stopped at the same minute, and nobody in the hill town could say why."
)
NORA = (
    "Nora Fairley had come up from the valley in the spring with a box of tools and a letter from her aunt, and the "
    "town had watched her open the shutters of the workshop on the square. Every clock inside had stopped at the same "
    "minute, and nobody in the hill town could say why."
)


def _write_clock(home: Path, script: Script, chunks: int = 1, **options: str) -> list[str]:
    """Generate story "clock" from the premise with the scripted ``script`` (extractive
    analysis, hash embeddings); the texts of the chunks it stored."""
    settings = get_settings(home=home)
    generate_story(
        settings,
        "clock",
        PREMISE,
        chunks=chunks,
        llm=ScriptedChatModel(script),
        embedder=HashEmbedder(64),
        analysis_llm="extractive",
        options=options_from_settings(settings, chunks, **options),
    )
    with StoryMemory.open(settings, "clock", embedder=HashEmbedder(64)) as memory:
        return [r.text for r in memory.latest().records()]


def test_generation_rejects_another_clockmaker_and_pins_the_plans(tmp_path: Path) -> None:
    assert any("clockmaker" in m["description"] for m in PLAN["cast"])
    script = Script([EMILY, NORA])
    assert _write_clock(tmp_path, script, continuity="retry") == [NORA]
    (logged,) = read_rejections(tmp_path / "stores" / "clock")
    (found,) = logged["contradictions"]
    assert (found["kind"], found["entity"], found["fact"]["chunk"]) == ("role", "Nora Fairley", PLAN_CHUNK)
    assert found["text"] == "The clockmaker's name was Emily."
    assert logged["reasons"][0].startswith("continuity: role of Nora Fairley, against the plan: Nora Fairley: a young")
    assert "Nora Fairley: the clockmaker (the plan)" in script.asked[1] and "the plan" not in script.asked[0]


LATER_EMILY = (
    "By the end of the week the bailiff came to ask about the river gauge. The clockmaker's name was Emily. She took "
    "the brass case apart on the bench, laid every wheel on a cloth in the order it came out, and found a grain of red "
    "sand caught in the escapement, the same red sand that lay on the dry bed of the river below the square."
)


def test_continuity_and_the_web_page_cite_the_plan_for_a_stored_role_break(tmp_path: Path) -> None:
    """A chunk kept with ``--continuity off`` that names Emily the clockmaker is reported
    by ``automuse continuity`` and the web page against the plan; a read book (no plan)
    is held to no role."""
    assert _write_clock(tmp_path, Script([NORA, LATER_EMILY]), chunks=2, continuity="off") == [NORA, LATER_EMILY]
    settings = get_settings(home=tmp_path, embedder="hash:64")
    home = ["--home", str(tmp_path)]
    found = CliRunner().invoke(app, [*home, "continuity", "--story", "clock", "--json"])
    assert found.exit_code == 1, found.output
    (row,) = json.loads(found.stdout)
    assert (row["chunk"], row["kind"], row["entity"], row["text"]) == (
        1,
        "role",
        "Nora Fairley",
        "The clockmaker's name was Emily.",
    )
    assert row["fact"]["chunk"] == PLAN_CHUNK and "clockmaker" in row["fact"]["text"]
    table = CliRunner(env={"COLUMNS": "200"}).invoke(app, [*home, "continuity", "--story", "clock"])
    assert table.exit_code == 1 and "role (the plan)" in table.stdout
    assert CliRunner().invoke(app, [*home, "continuity", "--story", "clock", "--to", "0"]).exit_code == 0  # Nora's chunk
    with TestClient(open_app(settings, "clock", llm="extractive", budget=900)) as web:
        (shown,) = web.get("/api/continuity").json()
        assert shown["fact"]["chunk"] == PLAN_CHUNK and shown["text"] == row["text"]
    (tmp_path / "stores" / "clock" / "outline.md").unlink()  # as a read book: no plan, no role to hold to
    assert CliRunner().invoke(app, [*home, "continuity", "--story", "clock"]).exit_code == 0


class Judging(Script):
    """The scripted writer, which also answers the continuity confirmation (one word)."""

    def __init__(self, passages: list[str], verdict: str) -> None:
        super().__init__(passages)
        self.verdict = verdict
        self.questions: list[str] = []

    def __call__(self, messages, sampling) -> str:  # type: ignore[no-untyped-def]
        last = messages[-1]["content"]
        if "Answer with one word: yes or no" in last:
            self.questions.append(last)
            return self.verdict
        return super().__call__(messages, sampling)


@pytest.mark.parametrize(
    "verdict, confirm, stored, asked",
    [
        ("No.", "on", [EMILY], 1),  # the model dismisses it: kept, logged as kept
        ("Yes, it does.", "on", [NORA], 1),  # the model confirms it: rejected, the retry pins the fact
        ("Perhaps", "on", [NORA], 1),  # neither word: the rule's finding stands
        ("No.", "auto", [NORA], 0),  # auto: a model not served over the network is never asked
        ("No.", "off", [NORA], 0),
    ],
)
def test_a_contradiction_put_to_the_model_is_kept_only_on_its_no(
    tmp_path: Path, verdict: str, confirm: str, stored: list[str], asked: int
) -> None:
    script = Judging([EMILY, NORA], verdict)
    assert _write_clock(tmp_path, script, continuity="retry", confirm=confirm) == stored
    assert len(script.questions) == asked
    if asked:
        question = script.questions[0]
        assert "The clockmaker's name was Emily." in question and "Nora Fairley" in question and "the story's plan" in question
    (logged,) = read_rejections(tmp_path / "stores" / "clock")
    assert logged["accepted"] is (stored == [EMILY])
    assert logged["reasons"][0].startswith(
        "continuity (dismissed by the model): role" if stored == [EMILY] else "continuity: role"
    )
    assert ("Nora Fairley: the clockmaker (the plan)" in script.asked[-1]) is (stored == [NORA])


def test_only_a_served_model_is_asked_by_default(tmp_path: Path) -> None:
    class Served(ScriptedChatModel):
        remote = True

    assert confirms(Served(lambda m, s: "no"), "auto") and not confirms(ScriptedChatModel(lambda m, s: "no"), "auto")
    assert confirms(ScriptedChatModel(lambda m, s: "no"), "on") and not confirms(Served(lambda m, s: "no"), "off")
    bad = CliRunner().invoke(
        app, ["--home", str(tmp_path), "generate", "--story", "x", "--premise", PREMISE, "--confirm", "maybe"]
    )
    assert bad.exit_code == 2 and "error: --confirm must be one of auto, on, off, not 'maybe'" in bad.output
    assert "Traceback" not in bad.output
