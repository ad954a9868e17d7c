"""A resolved entity and a relation between two: what lore resolution produces
(:mod:`automuse_rag.lore.resolve`) and story memory stores and reads back.

Everything carries the chunk it came from, so that lore *as of* chunk ``i`` can be
rebuilt from nothing after ``i``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from automuse_rag.lore.describe import select_descriptions


@dataclass(frozen=True)
class Relation:
    source: str  # entity id
    target: str  # entity id
    label: str  # e.g. "sister of" (source is the label of target)
    chunk: int
    via: str = ""  # "parse" for relations read off the dependency parse, "" for the model's


@dataclass
class Entity:
    """A character, place or thing, with its whole history.

    ``aliases`` maps every name it goes by to the first chunk where that name was
    seen; ``descriptions`` is the history of (chunk, one-line description), with
    ``desc_kinds`` saying how each describes it (chunk -> "appos", "copula", ...;
    lore/describe.py); ``relations`` the history of (chunk, "Source label Target").
    """

    id: str
    name: str
    kind: str  # "character" | "place" | "thing"
    aliases: dict[str, int] = field(default_factory=dict)
    mentions: list[int] = field(default_factory=list)  # sorted chunk indices
    descriptions: list[tuple[int, str]] = field(default_factory=list)
    desc_kinds: dict[int, str] = field(default_factory=dict)
    relations: list[tuple[int, str]] = field(default_factory=list)
    # select_descriptions' answer (both it shows), kept with the very lists it came from
    # (held here, so their ids cannot be reused): a prompt asks one view for its card
    # and its one-line form
    _shown: tuple[object, object, list[str]] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def first_chunk(self) -> int:
        return self.mentions[0] if self.mentions else -1

    @property
    def last_chunk(self) -> int:
        return self.mentions[-1] if self.mentions else -1

    @property
    def last_described(self) -> int:
        """The chunk of its latest description (its last mention if it has none)."""
        return max((c for c, _ in self.descriptions), default=self.last_chunk)

    def at(self, i: int) -> Entity | None:
        """This entity as known after chunk ``i``; ``None`` if not yet met."""
        mentions = [m for m in self.mentions if m <= i]
        if not mentions:
            return None
        aliases = {a: c for a, c in self.aliases.items() if c <= i}
        name = self.name if self.aliases.get(self.name, mentions[0]) <= i else max(aliases, key=len, default=self.name)
        return Entity(
            id=self.id,
            name=name,
            kind=self.kind,
            aliases=aliases,
            mentions=mentions,
            descriptions=[(c, d) for c, d in self.descriptions if c <= i],
            desc_kinds={c: k for c, k in self.desc_kinds.items() if c <= i},
            relations=[(c, r) for c, r in self.relations if c <= i],
        )

    def shown_descriptions(self, limit: int = 2) -> list[str]:
        """What a card says about the entity: its introduction, then its latest change
        (:func:`~automuse_rag.lore.describe.select_descriptions`). Computed once while
        ``descriptions`` and ``desc_kinds`` are the same objects (they are replaced,
        never changed in place)."""
        kept = self._shown
        if kept is None or kept[0] is not self.descriptions or kept[1] is not self.desc_kinds:
            # at most two are ever shown, and the first of two is the one shown alone
            kept = self._shown = (self.descriptions, self.desc_kinds, select_descriptions(self.descriptions, self.desc_kinds))
        return kept[2][: max(0, limit)]

    @property
    def description(self) -> str:
        """The description a card leads with (empty if none)."""
        shown = self.shown_descriptions(1)
        return shown[0] if shown else ""

    def names(self) -> list[str]:
        return sorted({self.name, *self.aliases}, key=lambda s: (-len(s), s))

    def one_line(self) -> str:
        desc = self.description
        return f"{self.name} ({self.kind})" + (f": {desc}" if desc else "")

    def card(self, max_descriptions: int = 2, max_relations: int = 3) -> str:
        """Full lore card: names, kind, its introduction and latest change, and its
        latest few relations."""
        others = [a for a in self.names() if a != self.name]
        head = f"{self.name} ({self.kind}" + (f"; also: {', '.join(others)}" if others else "") + ")"
        descs = self.shown_descriptions(max_descriptions)
        card = head + (": " + " ".join(descs) if descs else "")
        rels = list(dict.fromkeys(r for _, r in self.relations))[-max_relations:] if max_relations > 0 else []
        return card + (" Relations: " + "; ".join(rels) + "." if rels else "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "kind": self.kind,
            "aliases": dict(self.aliases),
            "mentions": list(self.mentions),
            "descriptions": [list(d) for d in self.descriptions],
            "desc_kinds": {str(c): k for c, k in self.desc_kinds.items()},
            "relations": [list(r) for r in self.relations],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Entity:
        return cls(
            id=d["id"],
            name=d["name"],
            kind=d["kind"],
            aliases={k: int(v) for k, v in d.get("aliases", {}).items()},
            mentions=[int(m) for m in d.get("mentions", [])],
            descriptions=[(int(c), str(t)) for c, t in d.get("descriptions", [])],
            desc_kinds={int(c): str(k) for c, k in d.get("desc_kinds", {}).items()},
            relations=[(int(c), str(t)) for c, t in d.get("relations", [])],
        )
