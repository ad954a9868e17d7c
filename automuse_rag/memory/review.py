"""A model's pass over candidate merges (``automuse characters --review``, issue 27).

The rules leave apart the characters they cannot tell are one; lore/review.py lists
the pairs that may still be ("Mr. Gatz" and "Henry C. Gatz"). Each pair is put to a
capable model as one yes/no question with the names and what the story says of each
(never every name pair). Its "yes" answers become the writer's kind of correction
(a merge, memory/corrections.py), stored with the story so ingest and repair keep
them and ``check`` reports any that no longer apply; "no" and any other answer leave
the pair apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from automuse_rag import templates
from automuse_rag.lore.corrections import MERGE
from automuse_rag.lore.entity import Entity
from automuse_rag.lore.review import Candidate, accepted, merge_candidates
from automuse_rag.memory.corrections import Asked, correct_story
from automuse_rag.memory.state import load_lore
from automuse_rag.memory.story import StoryMemory
from automuse_rag.models.base import ChatModel, Sampling
from automuse_rag.settings import Settings

#: Characters of a description shown per name.
DESC_CHARS = 240


@dataclass(frozen=True)
class Verdict:
    candidate: Candidate
    same: bool | None  # the model's word: True "yes", False "no", None neither


def candidates(settings: Settings, story: str) -> tuple[list[Candidate], dict[str, Entity]]:
    """The story's candidate merges as of its last chunk, and its entities by id."""
    with StoryMemory.open(settings, story) as memory:
        lore = load_lore(memory.db)
        ents = {e.id: e for e in memory.latest().entities()}
    chars = {eid: st for eid, st in lore.entities.items() if st.kind == "character" and eid in ents}
    distinct = [(a, b) for pairs in lore.distinct.values() for _, a, b in pairs]
    found = merge_candidates(
        {eid: st.members for eid, st in chars.items()}, {eid: st.name for eid, st in chars.items()}, lore.stats, distinct
    )
    return found, ents


def question(c: Candidate, ents: dict[str, Entity]) -> str:
    """The one question put to the model about ``c``."""

    def about(eid: str) -> tuple[str, str]:
        e = ents[eid]
        others = [n for n in e.names() if n != e.name]
        desc = " ".join(e.shown_descriptions(1)) or "(no description)"
        return ", ".join(others) or "no other name", desc[:DESC_CHARS]

    (a_names, a_desc), (b_names, b_desc) = about(c.a), about(c.b)
    return templates.render(
        "merge_review.txt", a=c.a_name, b=c.b_name, a_names=a_names, a_desc=a_desc, b_names=b_names, b_desc=b_desc
    )


def judge(llm: ChatModel, c: Candidate, ents: dict[str, Entity]) -> Verdict:
    """The model's word on one candidate (one call, three tokens at most)."""
    reply = llm.chat([{"role": "user", "content": question(c, ents)}], Sampling(temperature=0.0, max_tokens=3, seed=7))
    word = next(iter(reply.strip().lower().replace(".", " ").replace(",", " ").split()), "")
    return Verdict(c, {"yes": True, "no": False}.get(word))


def apply_verdicts(settings: Settings, story: str, verdicts: Sequence[Verdict]) -> list[Asked]:
    """Store the accepted "yes" verdicts (lore/review.py :func:`accepted`) as merges,
    the less mentioned into the more, in force from chunk 0; returns what was stored.
    Nothing is stored when there is none."""
    asked = [Asked(MERGE, c.a_name, c.b_name) for c in accepted([(v.candidate, v.same) for v in verdicts])]
    if asked:
        correct_story(settings, story, asked, 0)
    return asked
