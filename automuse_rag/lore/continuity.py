"""Sentences of a chunk that contradict facts known before it (:func:`find_contradictions`).

PLACEHOLDER, to be replaced at merge: the helper "facts" owns this module (issue 26)
and its version wins. This minimal copy follows the shared interface exactly
(:class:`KnownFact`, :class:`Contradiction`, :data:`CONTRADICTION_KINDS`) and flags
only the plainest case: a character known dead who is the subject of a sentence
with a past-tense verb ("Clerval smiled.") or speaks ("said Clerval"), in a sentence
with no word of memory, dream, letter or past perfect.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from automuse_rag.lore.facts import MAX_SENTENCE, NAME, Fact, name_of
from automuse_rag.text import clip

CONTRADICTION_KINDS = ("dead_acts", "attribute", "kin", "two_places")

_ACTS = re.compile(rf"(?:\bsaid\s({NAME}))|(?:(?<![\w.])({NAME})\s(said|[a-z]+ed)\b)")
_NOT_ACTS = frozenset({"died", "had", "was", "is", "seemed", "remembered", "loved", "mourned", "haunted", "dreamed"})
_NOT_PRESENT = re.compile(
    r"\b(?:had|remember\w*|dream\w*|ghost\w*|portrait|letter|late|grave|mourn\w*|memory|funeral|dead|died|death)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class KnownFact:
    """A Fact resolved to an entity as of the chunk being checked."""

    fact: Fact  # fact.chunk < the chunk being checked
    entity: str  # entity id
    display: str  # the entity's display name


@dataclass(frozen=True)
class Contradiction:
    chunk: int
    kind: str  # one of CONTRADICTION_KINDS
    entity: str  # entity id
    display: str  # entity display name
    text: str  # the offending sentence
    fact: Fact  # the broken fact, with its own chunk and sentence

    def to_json(self, chapter: int) -> dict[str, Any]:
        return {
            "chunk": self.chunk,
            "chapter": chapter,
            "kind": self.kind,
            "entity": self.display,
            "text": self.text,
            "fact": {"kind": self.fact.kind, "chunk": self.fact.chunk, "text": self.fact.sentence},
        }


def _actors(sentence: str) -> list[str]:
    """The names that act or speak in a sentence (placeholder rules)."""
    out = []
    for m in _ACTS.finditer(sentence):
        if m.group(1):
            out.append(name_of(m.group(1)))
        elif m.group(3) not in _NOT_ACTS:
            out.append(name_of(m.group(2)))
    return [n for n in out if n]


def find_contradictions(
    doc: Any, chunk: int, known: Sequence[KnownFact], resolve: Callable[[str], str | None]
) -> list[Contradiction]:
    """Sentences of one chunk's spaCy doc that contradict facts known before it.
    ``resolve(surface name)`` -> entity id as of this chunk, or None."""
    dead: dict[str, KnownFact] = {}
    for k in known:
        if k.fact.kind == "dead" and k.fact.chunk < chunk:
            dead.setdefault(k.entity, k)
    if not dead:
        return []
    out: list[Contradiction] = []
    for sent in doc.sents:
        text = " ".join(sent.text.split())
        if not text or _NOT_PRESENT.search(text):
            continue
        seen: set[str] = set()
        for name in _actors(text):
            eid = resolve(name)
            if eid is None or eid not in dead or eid in seen:
                continue
            seen.add(eid)
            k = dead[eid]
            out.append(Contradiction(chunk, "dead_acts", eid, k.display, clip(text, MAX_SENTENCE), k.fact))
    return out
