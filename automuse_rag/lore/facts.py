"""State facts a chunk states about named entities (:class:`Fact`), read off its spaCy doc.

PLACEHOLDER, to be replaced at merge: the helper "facts" owns this module (issue 26)
and its version wins. This minimal copy follows the shared interface exactly (the
dataclass, :data:`FACT_KINDS`, :func:`extract_facts`) so the storage, reads, command
and generation built around it compile and run; it extracts only the plainest death
statements, "X is dead." / "X was dead." / "X died.", where X is a capitalised name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from automuse_rag.text import clip

FACT_KINDS = ("dead", "eyes", "hair", "age", "gender", "role", "married_name", "kin", "place")
MAX_SENTENCE = 300

#: A capitalised name, with an optional title ("Mr. Henry Clerval").
NAME = r"(?:(?:Mr|Mrs|Miss|Dr|Captain)\.?\s)?[A-Z][a-z]+(?:\s[A-Z][a-z]+)*"
#: Capitalised words that open sentences without naming anyone.
NOT_NAMES = frozenset(
    "The A An He She It They We I You His Her Their Our My Your This That These Those There Then When "
    "But And Yet So If Now Here Nobody Everyone Someone One".split()
)
_DEATH = re.compile(rf"(?<![\w.])({NAME})\s(?:is\sdead|was\sdead|died)\b")


@dataclass(frozen=True)
class Fact:
    """One state fact about a named entity, with the sentence that states it."""

    kind: str  # one of FACT_KINDS
    name: str  # the surface name the sentence gives (or the name a pronoun resolves to)
    value: str  # "dead" | "blue" | "32" | "female" | "clockmaker" | "Mrs. Harker" | "sister:Lucy Westenra" | "Whitby"
    sentence: str  # the source sentence, clipped to 300 chars
    chunk: int = -1  # the chunk it comes from (set by the store / caller)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Fact:
        return cls(
            kind=str(d["kind"]),
            name=str(d["name"]),
            value=str(d.get("value", "")),
            sentence=str(d.get("sentence", "")),
            chunk=int(d.get("chunk", -1)),
        )


def name_of(text: str) -> str | None:
    """The name in a capitalised match, without the sentence openers before it
    ("Then Henry Clerval" -> "Henry Clerval"); None if nothing is left."""
    words = text.split()
    while words and words[0] in NOT_NAMES:
        words.pop(0)
    return " ".join(words) or None


def extract_facts(doc: Any, chunk: int = -1) -> list[Fact]:
    """State facts a spaCy doc of one chunk states, in text order (placeholder: deaths
    stated plainly only)."""
    out: list[Fact] = []
    for sent in doc.sents:
        text = sent.text.strip()
        for m in _DEATH.finditer(text):
            if (name := name_of(m.group(1))) is not None:
                out.append(Fact("dead", name, "dead", clip(text, MAX_SENTENCE), chunk))
    return out
