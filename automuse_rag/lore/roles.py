"""Roles the plan fixes (issue 26): a generated story's plan gives each cast member a
description ("Nora Fairley: a young clockmaker"). When only one member holds an
occupation, that member *is* the story's clockmaker, and a passage that names someone
else as the clockmaker ("The clockmaker's name was Emily") contradicts the plan.

Pure, like lore/continuity.py: plan facts are :class:`Fact` s of kind ``role`` at chunk
-1 (before the first chunk), and :func:`role_breaks` finds the sentences of one chunk
that name another holder. Only identifying sentences count: "the R's name was X", "the
name of the R was X", "X, the R," / "the R, X," and "the R X"; X is a character NER
found, or a proper noun where the grammar says it is a name ("name was Emily": NER
often misses a lone given name there). A second clockmaker who is not said to be *the*
clockmaker ("an old clockmaker from the valley") is no contradiction; neither is
the plan's holder called by part of the name ("Nora", "Miss Fairley").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from automuse_rag.lore.chunk_view import ChunkView, Parsed, question
from automuse_rag.lore.fact_words import OCCUPATIONS
from automuse_rag.lore.facts import Fact
from automuse_rag.lore.names import parse_name
from automuse_rag.lore.relation_words import BE

if TYPE_CHECKING:
    from spacy.tokens import Token

PLAN_CHUNK = -1  # the chunk of a fact the plan states: before the story's first


def plan_role_facts(cast: Sequence[tuple[str, str]]) -> list[Fact]:
    """The occupations the plan's cast ``(name, description)`` fixes: a role word of the
    description, when no other member's description has it."""
    held: dict[str, list[tuple[str, str]]] = {}
    for name, description in cast:
        words = {w.strip(".,;:!?\"'()").lower() for w in description.split()}
        for role in sorted(words & OCCUPATIONS):
            held.setdefault(role, []).append((name, description))
    return [
        Fact("role", name, role, f"{name}: {description} (the plan)", PLAN_CHUNK)
        for role, holders in held.items()
        if len(holders) == 1
        for name, description in holders
    ]


def same_person(a: str, b: str, resolve: Callable[[str], str | None]) -> bool:
    """Whether ``a`` and ``b`` may name one person: one entity, or a shared name word
    ("Nora" and "Nora Fairley", "Miss Fairley" and "Nora Fairley")."""
    ea, eb = resolve(a), resolve(b)
    if ea is not None and ea == eb:
        return True
    wa, wb = parse_name(a).words, parse_name(b).words
    return bool({w.lower() for w in wa} & {w.lower() for w in wb})


def role_breaks(view: ChunkView, plan: Sequence[Fact], resolve: Callable[[str], str | None]) -> list[tuple[Fact, str, str]]:
    """(plan fact, other holder, sentence) for each sentence of the chunk that names
    someone other than the plan's holder as the holder of a role the plan fixes."""
    roles = {f.value: f for f in plan if f.kind == "role" and f.chunk == PLAN_CHUNK}
    if not roles:
        return []
    wanted = [i for i, s in enumerate(view.sents) if any(t.lower_ in roles for t in s)]
    out: list[tuple[Fact, str, str]] = []
    for s in view.parse(wanted):
        if question(s):
            continue
        for tok in s.pdoc:
            fact = roles.get(tok.lower_)
            if fact is None or s.in_quotes(tok):
                continue
            holder = identified_holder(s, tok)
            if holder and not same_person(holder, fact.name, resolve):
                out.append((fact, holder, s.text))
    return out


def identified_holder(s: Parsed, tok: Token) -> str | None:
    """The name a sentence gives *the* holder of role ``tok``, or None."""
    definite = (
        any(c.lower_ == "the" for c in tok.children)
        or tok.dep_ == "poss"  # the clockmaker's name
        or (tok.dep_ == "pobj" and tok.head.head.lower_ == "name")  # the name of (the) clockmaker
    )
    if not definite:
        return None
    name_noun = None
    if tok.dep_ == "poss" and tok.head.lower_ == "name":  # the clockmaker's name was X
        name_noun = tok.head
    elif tok.dep_ == "pobj" and tok.head.lower_ == "of" and tok.head.head.lower_ == "name":  # the name of the R was X
        name_noun = tok.head.head
    if name_noun is not None:
        verb = name_noun.head
        if name_noun.dep_ in ("nsubj", "nsubjpass") and verb.lower_ in BE:
            return next((_name(s, c) for c in verb.children if c.dep_ in ("attr", "acomp", "npadvmod", "oprd")), None)
        return None
    for c in tok.children:  # the clockmaker, Emily, ... / the clockmaker Emily
        if c.dep_ in ("appos", "compound") and (name := _name(s, c)):
            return name
    if tok.dep_ == "appos":  # Emily, the clockmaker, ...
        return _name(s, tok.head)
    return None


def _name(s: Parsed, tok: Token) -> str | None:
    """The character ``tok`` names (NER), else the capitalised words it heads inside
    the sentence (the parse pipeline has no tagger: capitals stand for proper nouns)."""
    o = s.occ(tok)
    if o is not None:
        return o.name if o.character else None
    if tok.i == 0 or not tok.is_title:
        return None
    words = [c for c in tok.lefts if c.dep_ == "compound" and c.is_title] + [tok]
    return " ".join(w.text for w in words)
