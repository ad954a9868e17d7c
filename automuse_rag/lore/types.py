"""What one chunk contributes to memory (:class:`ChunkAnalysis`): its summary, its
lore mentions (:class:`LoreMention`) and relations, as stored per chunk in
``state.sqlite``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

MAX_DESCRIPTION = 200


@dataclass
class LoreMention:
    """One name as seen in one chunk (by NER and/or the model)."""

    name: str
    kind: str = ""  # "character" | "place" | "thing" | "" (decided at resolution)
    labels: dict[str, int] = field(default_factory=dict)  # NER label votes
    count: int = 0  # occurrences in the chunk
    he: int = 0  # gendered pronouns in the sentences that name it
    she: int = 0
    lower: int = 0  # lower-case uses of a one-word name in the chunk
    at: int = 0  # uses right after a place preposition ("at", "in", "near"...)
    description: str = ""
    # How ``description`` speaks of the name (see lore/describe.py): "appos", "copula",
    # "pronoun", "subject", "mention", "model"; "" for analyses written before kinds existed.
    desc_kind: str = ""
    # Other names of the same person: the model's aliases, a letter's greeting name
    # (lore/letters.py), a real-name statement's name (lore/real_names.py).
    aliases: list[str] = field(default_factory=list)
    to_narrator: int = 0  # times the chunk speaks the name to its first-person narrator (lore/narrator.py)
    source: str = "ner"  # "ner" | "model" | "ner+model"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LoreMention:
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


@dataclass
class ChunkAnalysis:
    """What one chunk contributes to memory: its summary, lore mentions and the
    relations the model named (by name; resolved to entity ids later)."""

    summary: str
    mentions: list[LoreMention] = field(default_factory=list)
    # {"source", "target", "label"} by name; "via": "parse" marks relations read off the
    # dependency parse (lore/relations.py), the model's carry no "via".
    relations: list[dict[str, str]] = field(default_factory=list)
    # Name pairs that act as different people in one sentence of this chunk ("X and Y",
    # "X married Y", dialogue attribution): the resolver never merges them.
    distinct: list[tuple[str, str]] = field(default_factory=list)
    # State facts the chunk states (lore/facts.py ``Fact.to_dict()``), by name like relations.
    facts: list[dict[str, Any]] = field(default_factory=list)
    model: str = "extractive"  # who wrote the summary/lore ("extractive" on fallback)
    calls: int = 0  # model calls made for this chunk
    fallback: str = ""  # why the model's answer was not used ("" if it was)

    def to_dict(self) -> dict[str, Any]:
        return {
            "summary": self.summary,
            "mentions": [m.to_dict() for m in self.mentions],
            "relations": [dict(r) for r in self.relations],
            "distinct": [list(p) for p in self.distinct],
            "facts": [dict(f) for f in self.facts],
            "model": self.model,
            "calls": self.calls,
            "fallback": self.fallback,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ChunkAnalysis:
        return cls(
            summary=d.get("summary", ""),
            mentions=[LoreMention.from_dict(m) for m in d.get("mentions", [])],
            relations=[dict(r) for r in d.get("relations", [])],
            distinct=[(str(a), str(b)) for a, b in d.get("distinct", [])],
            facts=[dict(f) for f in d.get("facts", [])],
            model=d.get("model", ""),
            calls=int(d.get("calls", 0)),
            fallback=d.get("fallback", ""),
        )
