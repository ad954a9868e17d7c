"""Continuity in generation: each candidate chunk is checked against the state facts
known when it is written (lore/continuity.py over the story as of the last stored
chunk). With ``--continuity retry`` (the default) a contradiction is a rejection,
logged in ``rejections.jsonl`` with both citations (the candidate's sentence and the
fact's own chunk and sentence), and the retry's prompt pins the broken facts;
``warn`` logs it and keeps the candidate; ``off`` checks nothing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from automuse_rag import templates
from automuse_rag.errors import InputError
from automuse_rag.generate.plan import Plan, load_plan
from automuse_rag.lore.continuity import Contradiction, KnownFact, find_contradictions
from automuse_rag.lore.facts import Fact
from automuse_rag.lore.ner import ner_text
from automuse_rag.lore.roles import plan_role_facts
from automuse_rag.memory.continuity import plan_known, resolver
from automuse_rag.memory.facts import fact_line
from automuse_rag.memory.layout import story_dir
from automuse_rag.memory.snapshot import StorySnapshot
from automuse_rag.models.base import Message
from automuse_rag.settings import Settings

CONTINUITY_MODES = ("retry", "warn", "off")


def check_mode(mode: str) -> str:
    """``mode`` if it is one of :data:`CONTINUITY_MODES`, else InputError (one line)."""
    if mode not in CONTINUITY_MODES:
        raise InputError(f"--continuity must be one of {', '.join(CONTINUITY_MODES)}, not {mode!r}")
    return mode


def contradictions(candidate: str, index: int, snap: StorySnapshot, nlp: Any, plan: Sequence[Fact] = ()) -> list[Contradiction]:
    """The sentences of ``candidate`` (to be chunk ``index``) that contradict the facts
    known at ``snap`` (the story as of chunk ``index - 1``) or the ``plan``'s facts
    (lore/roles.py, chunk -1), names resolved then. The candidate is parsed only when
    some fact is known."""
    resolve = resolver(snap)
    known = [*snap.facts(), *plan_known(plan, resolve)]
    if not known or not candidate.strip():
        return []
    return find_contradictions(nlp(ner_text(nlp, candidate)), index, known, resolve)


def plan_facts(plan: Plan) -> list[Fact]:
    """The facts a plan fixes: the occupation of each character whose description is
    the only one to give it."""
    return plan_role_facts([(m.name, m.description) for m in plan.cast if m.kind == "character"])


def story_plan_facts(settings: Settings, name: str) -> list[Fact]:
    """The facts the plan of story ``name`` fixes (its plan files as ``generate`` keeps
    them, edits included); none for a story with no plan (a book read by ingest)."""
    plan = load_plan(story_dir(settings, name))
    return plan_facts(plan) if plan is not None else []


def reasons(found: Sequence[Contradiction]) -> list[str]:
    """One line per contradiction, for the rejection log and the progress bar."""
    return [
        f"continuity: {c.kind} of {c.display}, against {'the plan' if c.fact.chunk < 0 else f'chunk {c.fact.chunk}'}: {c.fact.sentence}"
        for c in found
    ]


def citations(found: Sequence[Contradiction], chapter: int) -> list[dict[str, Any]]:
    """Both sides of each contradiction, as ``automuse continuity --json`` gives them."""
    return [c.to_json(chapter) for c in found]


def pin_lines(found: Sequence[Contradiction]) -> list[str]:
    """The broken facts, one line each with the sentence that stated them."""
    out: list[str] = []
    for c in found:
        line = f'- {fact_line(KnownFact(c.fact, c.entity, c.display))}: "{c.fact.sentence}"'
        if line not in out:
            out.append(line)
    return out


def pinned(messages: Sequence[Message], lines: Sequence[str]) -> list[Message]:
    """``messages`` with the pinned facts added to the last (user) message."""
    if not lines:
        return list(messages)
    pin = templates.render("write_pin.txt", facts="\n".join(lines)).strip()
    out = list(messages)
    last = out[-1]
    out[-1] = {"role": last["role"], "content": f"{last['content']}\n\n{pin}"}
    return out
