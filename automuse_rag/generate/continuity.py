"""Continuity in generation: each candidate chunk is checked against the state facts
known when it is written (lore/continuity.py over the story as of the last stored
chunk). With ``--continuity retry`` (the default) a contradiction is a rejection,
logged in ``rejections.jsonl`` with both citations (the candidate's sentence and the
fact's own chunk and sentence), and the retry's prompt pins the broken facts;
``warn`` logs it and keeps the candidate; ``off`` checks nothing.

A contradiction the rules find may be put to the writing model in one short call
(:func:`confirm`; ``--confirm auto`` does it for a model served over the network,
never for the embedded one; ``on`` always, ``off`` never). Only what the rules found
is asked about, never every sentence; a "no" dismisses it (logged as kept), a "yes"
or an answer that is neither leaves it standing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from automuse_rag import templates
from automuse_rag.errors import InputError
from automuse_rag.generate.plan import Plan, load_plan
from automuse_rag.lore.chunk_view import open_quote
from automuse_rag.lore.continuity import Contradiction, KnownFact, find_contradictions
from automuse_rag.lore.facts import Fact
from automuse_rag.lore.ner import ner_text
from automuse_rag.lore.roles import plan_role_facts
from automuse_rag.memory.continuity import fact_names, kin_known, plan_known, resolver
from automuse_rag.memory.facts import fact_line
from automuse_rag.memory.layout import story_dir
from automuse_rag.memory.snapshot import StorySnapshot
from automuse_rag.models.base import ChatModel, Message, Sampling, capable
from automuse_rag.settings import Settings

CONTINUITY_MODES = ("retry", "warn", "off")
CONFIRM_MODES = ("auto", "on", "off")


def check_mode(mode: str) -> str:
    """``mode`` if it is one of :data:`CONTINUITY_MODES`, else InputError (one line)."""
    if mode not in CONTINUITY_MODES:
        raise InputError(f"--continuity must be one of {', '.join(CONTINUITY_MODES)}, not {mode!r}")
    return mode


def check_confirm(mode: str) -> str:
    """``mode`` if it is one of :data:`CONFIRM_MODES`, else InputError (one line)."""
    if mode not in CONFIRM_MODES:
        raise InputError(f"--confirm must be one of {', '.join(CONFIRM_MODES)}, not {mode!r}")
    return mode


def confirms(llm: ChatModel, mode: str) -> bool:
    """Whether contradictions are put to ``llm``: ``on``, or ``auto`` and a model served
    over the network (a capable model; the embedded 135M one answers at random)."""
    return mode == "on" or (mode == "auto" and capable(llm, "remote"))


def confirm(llm: ChatModel, found: Contradiction) -> bool | None:
    """The model's word on one contradiction: True (it contradicts), False (it does
    not), None (an answer that is neither)."""
    where = "the story's plan" if found.fact.chunk < 0 else stated_at(found.fact.chunk)
    prompt = templates.render(
        "continuity_confirm.txt", fact=found.fact.sentence, where=where, sentence=found.text, who=found.display
    )
    reply = llm.chat([{"role": "user", "content": prompt}], Sampling(temperature=0.0, max_tokens=3, seed=7))
    word = next(iter(reply.strip().lower().replace(".", " ").replace(",", " ").split()), "")
    return {"yes": True, "no": False}.get(word)


def sift(llm: ChatModel, found: Sequence[Contradiction]) -> tuple[list[Contradiction], list[Contradiction]]:
    """``found`` split by the model's word: (standing, dismissed). One call each."""
    standing: list[Contradiction] = []
    dismissed: list[Contradiction] = []
    for c in found:
        (dismissed if confirm(llm, c) is False else standing).append(c)
    return standing, dismissed


def contradictions(candidate: str, index: int, snap: StorySnapshot, nlp: Any, plan: Sequence[Fact] = ()) -> list[Contradiction]:
    """The sentences of ``candidate`` (to be chunk ``index``) that contradict the facts
    known at ``snap`` (the story as of chunk ``index - 1``) or the ``plan``'s facts
    (lore/roles.py, chunk -1), names resolved then. The candidate is parsed only when
    some fact is known."""
    own = snap.facts()
    ties = kin_known(snap, snap)
    if not (own or plan or ties) or not candidate.strip():
        return []
    entities = snap.entities()  # read once: the resolver's names and the checker's
    resolve = resolver(snap, entities)
    known = [*own, *plan_known(plan, resolve), *ties]
    last = snap.records_at([index - 1]).get(index - 1)  # a candidate may go on with a speech the last chunk opened
    opened = open_quote(last.text) if last is not None else ""
    return find_contradictions(nlp(ner_text(nlp, candidate)), index, known, resolve, fact_names(entities, known), opened)


def plan_facts(plan: Plan) -> list[Fact]:
    """The facts a plan fixes: the occupation of each character whose description is
    the only one to give it."""
    return plan_role_facts([(m.name, m.description) for m in plan.cast if m.kind == "character"])


def story_plan_facts(settings: Settings, name: str) -> list[Fact]:
    """The facts the plan of story ``name`` fixes (its plan files as ``generate`` keeps
    them, edits included); none for a story with no plan (a book read by ingest)."""
    plan = load_plan(story_dir(settings, name))
    return plan_facts(plan) if plan is not None else []


def stated_at(chunk: int) -> str:
    """Where a fact was stated: its chunk, or the plan (chunk -1)."""
    return "the plan" if chunk < 0 else f"chunk {chunk}"


def reasons(found: Sequence[Contradiction], note: str = "") -> list[str]:
    """One line per contradiction, for the rejection log and the progress bar."""
    head = f"continuity ({note})" if note else "continuity"
    return [f"{head}: {c.kind} of {c.display}, against {stated_at(c.fact.chunk)}: {c.fact.sentence}" for c in found]


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
