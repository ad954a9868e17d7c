"""Helpers for the generation tests: a scripted model that writes varied real prose
(sentences of Frankenstein, never the same passage twice), and a worker script entry
point for the SIGKILL test (``python tests/gen_helpers.py HOME STORY CHUNKS DELAY``)."""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PREMISE = (
    "In a hill town where the river has run dry, a young clockmaker named Nora Fairley inherits her aunt's workshop. "
    "Every clock in it has stopped at the same minute. The water bailiff Tobias Crane begs her to mend the tower clock. "
    "She learns that the stopped hands record the night the old dam was opened."
)
PLAN = {
    "title": "The Stopped Minute",
    "chapters": [
        {
            "number": 1,
            "title": "The Workshop",
            "plan": "Nora arrives in the dry town and opens her aunt's workshop. Every clock has stopped at the same minute.",
        },
        {
            "number": 2,
            "title": "The Bailiff",
            "plan": "Tobias Crane asks Nora to mend the tower clock before the fair. She agrees, unwillingly.",
        },
        {
            "number": 3,
            "title": "The Dam",
            "plan": "Nora reads the stopped hands and climbs to the old dam. She learns who opened it.",
        },
    ],
    "cast": [
        {"name": "Nora Fairley", "kind": "character", "description": "a young clockmaker"},
        {"name": "Tobias Crane", "kind": "character", "description": "the old water bailiff"},
    ],
}


def prose_sentences() -> list[str]:
    from shared_data import gutenberg_path, shared_data_dir

    path = gutenberg_path(shared_data_dir(), 84)
    if not path.is_file():
        raise FileNotFoundError(f"shared data not found: {path} (set AUTOMUSE_SHARED_DATA, or run python tests/shared_data.py)")
    text = path.read_text(encoding="utf-8-sig")[30000:250000]
    sents = [" ".join(s.split()) for s in re.split(r"(?<=[.!?])\s+", text)]
    return [s for s in sents if 6 <= len(s.split()) <= 60 and "Gutenberg" not in s]


def planning_reply(last: str) -> str | None:
    """The scripted answer to a planning call (the plan) or a chapter check (not
    done); None for a passage call."""
    if '"chapters"' in last:
        return json.dumps(PLAN)
    if '"done"' in last:
        return '{"done": false}'
    return None


class Script:
    """``(messages, sampling) -> str`` for ScriptedChatModel: the plan, then the given
    passages in order; records each passage call's last message in ``asked``."""

    def __init__(self, passages: list[str]) -> None:
        self.passages = list(passages)
        self.asked: list[str] = []

    def __call__(self, messages, sampling) -> str:
        last = messages[-1]["content"]
        if (reply := planning_reply(last)) is not None:
            return reply
        self.asked.append(last)
        return self.passages.pop(0)


class ProseScript:
    """``(messages, sampling) -> str`` for ScriptedChatModel: the plan for planning
    calls, ``{"done": false}`` for chapter checks, and otherwise the next unused
    stretch of real prose. ``degenerate_first`` makes the first N passage calls return
    one sentence repeated (which the guard must reject)."""

    def __init__(self, degenerate_first: int = 0, delay: float = 0.0, echo: bool = False) -> None:
        self.sentences = prose_sentences()
        self.passages = 0
        self.degenerate_left = degenerate_first
        self.delay = delay
        self.echo = echo  # start each passage by repeating the end of the prompt, as small models do
        self.outputs: list[str] = []  # every passage returned

    def __call__(self, messages, sampling) -> str:
        last = messages[-1]["content"]
        if (reply := planning_reply(last)) is not None:
            return reply
        if self.delay:
            time.sleep(self.delay)
        if self.degenerate_left > 0:
            self.degenerate_left -= 1
            return "Sure! Here is the next chunk:\n\n" + " ".join(["The clock stopped and nobody knew why."] * 25)
        start = (self.passages * 11) % (len(self.sentences) - 12)
        self.passages += 1
        passage = " ".join(self.sentences[start : start + 11])
        marker = "THE STORY SO FAR ENDS LIKE THIS:"
        if self.echo and marker in last:
            shown = last.split(marker, 1)[1].strip().split("\n\n")[0]
            passage = shown + "\n\n" + passage
        self.outputs.append(passage)
        return passage


def _worker(home: str, story: str, chunks: int, delay: float) -> None:
    from automuse_rag.generate import generate_story
    from automuse_rag.models.fake import HashEmbedder, ScriptedChatModel
    from automuse_rag.settings import get_settings

    settings = get_settings(home=home)
    llm = ScriptedChatModel(ProseScript(delay=delay))
    # a fresh process starts its script at the same place; skip what is already written
    from automuse_rag.memory.story import story_dir

    if (story_dir(settings, story) / "story.json").is_file():
        from automuse_rag.memory.story import StoryMemory

        llm._fn.passages = len(StoryMemory.open(settings, story, embedder=HashEmbedder(64)))  # type: ignore[union-attr]
    result = generate_story(
        settings, story, PREMISE, chunks=chunks, llm=llm, embedder=HashEmbedder(64), analysis_llm="extractive"
    )
    print(json.dumps(result.to_dict()))


if __name__ == "__main__":
    _worker(sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
