"""Generation keeps to the story's facts (``--continuity``): a candidate that makes a
dead character speak is rejected and logged with both citations, the retry's prompt
pins the broken fact, and the fixed candidate is stored; ``warn`` keeps it and logs
it, ``off`` checks nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from gen_helpers import PREMISE, Script

from automuse_rag.errors import InputError
from automuse_rag.generate import generate_story
from automuse_rag.generate.continuity import check_mode
from automuse_rag.generate.files import read_rejections
from automuse_rag.generate.loop import options_from_settings
from automuse_rag.memory.story import StoryMemory
from automuse_rag.models.fake import HashEmbedder, ScriptedChatModel
from automuse_rag.settings import get_settings

DEATH = "Henry Clerval is dead."
SPEAKS = '"Come up to the room, Victor," said Henry Clerval.'
FIRST = (
    "The letter came at noon, and Elizabeth Lavenza read it twice at the window before she carried it across the room. "
    f"{DEATH} The magistrate of the northern town had written it plainly, in one line, and then filled a whole page "
    "about the inquest, the weather and the fishermen who found him on the shore. Victor Frankenstein sat down and did "
    "not speak for an hour."
)
BROKEN = (
    f"{SPEAKS} He stood at the foot of the stairs of the inn with his coat over his arm and the rain still on his hat. "
    "Victor Frankenstein looked at him for a long time and could not answer, because the fire had burned low and the "
    "landlord had gone to bed long before midnight."
)
FIXED = (
    "Victor Frankenstein rode north for three days without rest. At the inn by the river he sat alone by the fire and "
    "did not eat, and the landlord Mr. Kirwin left him there until the candles burned down. In the morning he walked to "
    "the churchyard where the fishermen had laid his friend, and stood there in the wind until the bell rang at noon."
)
PIN = f'Henry Clerval: died (chunk 0): "{DEATH}"'
FOUND = {
    "chunk": 1,
    "chapter": 1,
    "kind": "dead_acts",
    "entity": "Henry Clerval",
    "text": SPEAKS,
    "fact": {"kind": "dead", "chunk": 0, "text": DEATH},
}


def _generate(home: Path, mode: str, passages: list[str]):
    settings = get_settings(home=home)
    script = Script(passages)
    opts = options_from_settings(settings, 2, continuity=mode)
    result = generate_story(
        settings,
        "clerval",
        PREMISE,
        chunks=2,
        llm=ScriptedChatModel(script),
        embedder=HashEmbedder(64),
        analysis_llm="extractive",
        options=opts,
    )
    with StoryMemory.open(settings, "clerval", embedder=HashEmbedder(64)) as memory:
        texts = [r.text for r in memory.latest().records()]
    return result, script, texts, read_rejections(home / "stores" / "clerval")


def test_a_dead_character_speaking_is_rejected_and_the_retry_pins_the_fact(tmp_path: Path) -> None:
    result, script, texts, log = _generate(tmp_path, "retry", [FIRST, BROKEN, FIXED])
    assert texts == [FIRST, FIXED]
    assert (result.rejections, result.continuity_rejections) == (1, 1)
    assert len(log) == 1 and log[0]["check"] == "continuity" and log[0]["accepted"] is False
    assert log[0]["chunk"] == 1 and log[0]["contradictions"] == [FOUND] and log[0]["text"] == BROKEN
    assert log[0]["reasons"][0].startswith("continuity: dead_acts of Henry Clerval, against chunk 0")
    assert len(script.asked) == 3
    assert PIN not in script.asked[0] + script.asked[1]  # nothing pinned before a fact was broken
    assert PIN in script.asked[2]


def test_warn_keeps_the_candidate_and_logs_it_and_off_checks_nothing(tmp_path: Path) -> None:
    result, script, texts, log = _generate(tmp_path / "warn", "warn", [FIRST, BROKEN])
    assert texts == [FIRST, BROKEN] and (result.rejections, result.continuity_rejections) == (0, 0)
    assert [(e["check"], e["accepted"], e["contradictions"]) for e in log] == [("continuity", True, [FOUND])]
    result, script, texts, log = _generate(tmp_path / "off", "off", [FIRST, BROKEN])
    assert texts == [FIRST, BROKEN] and result.rejections == 0 and log == []


def test_an_unknown_mode_is_one_line() -> None:
    assert check_mode("warn") == "warn"
    with pytest.raises(InputError, match="^--continuity must be one of retry, warn, off, not 'maybe'$"):
        check_mode("maybe")


@pytest.mark.parametrize(("last", "flagged"), [("“When I lived with Mrs. Thomas", False), ("“I lived with Mrs. Thomas.”", True)])
def test_a_candidate_going_on_with_the_last_chunks_speech_is_speech(last: str, flagged: bool) -> None:
    """A candidate may continue a speech the last chunk opened: its first paragraph is
    speech, and a dead man's act recalled there breaks no fact."""
    from automuse_rag.generate.continuity import contradictions
    from automuse_rag.lore.ner import get_nlp
    from automuse_rag.lore.types import ChunkAnalysis, LoreMention
    from automuse_rag.memory.inmemory import InMemoryStory
    from automuse_rag.memory.types import ChunkRecord

    died = {"kind": "dead", "name": "Mr. Thomas", "value": "dead", "sentence": "Mr. Thomas was killed."}
    texts = [("Marilla sewed. Mr. Thomas was killed under a train.", [died]), (f"Anne sat down.\n\n{last}", [])]
    story = InMemoryStory.from_analyses(
        "thomas",
        [
            (
                ChunkRecord(i, f"thomas:{i}", 1, "ONE", text, text),
                ChunkAnalysis("s", [LoreMention(name="Mr. Thomas", labels={"PERSON": 2}, count=2)], facts=facts),
            )
            for i, (text, facts) in enumerate(texts)
        ],
        HashEmbedder(16),
    )
    candidate = "she had a bookcase. Mr. Thomas smashed it one night when he was slightly intoxicated."
    found = contradictions(candidate, 2, story.at(1), get_nlp())
    assert [c.entity for c in found] == (["mr-thomas"] if flagged else [])
