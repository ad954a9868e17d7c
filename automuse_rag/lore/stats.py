"""Per-name statistics of alias resolution (:class:`NameStat`: sums over a name's
mentions) and the shapes of the resolver's other inputs; the rules
(lore/rules.py), the merge steps and the resolver (lore/resolve.py) all read them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from automuse_rag.lore.types import LoreMention


@dataclass
class NameStat:
    """Everything the resolver knows of one name so far (sums over its mentions)."""

    name: str
    first_chunk: int
    count: int = 0
    nchunks: int = 0
    votes: Counter[str] = field(default_factory=Counter)
    he: int = 0
    she: int = 0
    lower: int = 0
    at: int = 0
    edge: int = 0  # uses that open a sentence (LoreMention.edge)
    heading: int = 0  # uses in a heading line (LoreMention.heading)
    model: bool = False
    model_kind: str = ""
    narrator: int = 0  # times spoken to the first-person narrator (lore/narrator.py)
    chunks: set[int] = field(default_factory=set)  # not persisted: rebuilt from the mentions

    def add(self, idx: int, m: LoreMention, *, new_chunk: bool = True) -> None:
        """Count mention ``m`` of chunk ``idx``; ``new_chunk`` is False for a second
        mention of the same name in the same chunk."""
        self.first_chunk = min(self.first_chunk, idx)
        self.count += max(1, m.count)
        self.nchunks += int(new_chunk)
        self.chunks.add(idx)
        self.votes.update(m.labels)
        self.he += m.he
        self.she += m.she
        self.lower += m.lower
        self.at += m.at
        self.edge += m.edge
        self.heading += m.heading
        self.narrator += m.to_narrator
        if "model" in m.source:
            self.model = True
            self.model_kind = self.model_kind or m.kind

    def to_json(self) -> dict[str, Any]:
        return {
            "first_chunk": self.first_chunk,
            "count": self.count,
            "nchunks": self.nchunks,
            "votes": dict(sorted(self.votes.items())),
            "he": self.he,
            "she": self.she,
            "lower": self.lower,
            "at": self.at,
            "model": self.model,
            "model_kind": self.model_kind,
            "narrator": self.narrator,
            "edge": self.edge,
            "heading": self.heading,
        }

    @classmethod
    def from_json(cls, name: str, d: dict[str, Any], chunks: Iterable[int] = ()) -> NameStat:
        return cls(
            name=name,
            first_chunk=int(d["first_chunk"]),
            count=int(d["count"]),
            nchunks=int(d["nchunks"]),
            votes=Counter({str(k): int(v) for k, v in d.get("votes", {}).items()}),
            he=int(d["he"]),
            she=int(d["she"]),
            lower=int(d["lower"]),
            at=int(d["at"]),
            model=bool(d["model"]),
            model_kind=str(d["model_kind"]),
            narrator=int(d.get("narrator", 0)),
            edge=int(d.get("edge", 0)),
            heading=int(d.get("heading", 0)),
            chunks=set(chunks),
        )


ChunkLore = tuple[int, list[LoreMention]]  # (chunk index, mentions)
ModelAlias = tuple[int, str, list[str]]  # (chunk, name, the aliases the model gave it)
DistinctPair = tuple[int, str, str]  # (chunk, name, name): two people in one sentence


class Correction(NamedTuple):
    """A writer's correction of who is who (``automuse characters --merge/--split``),
    in force from chunk ``chunk`` on: ``merge`` makes names ``a`` and ``b`` one entity
    (whatever the rules say), ``split`` makes ``a`` an entity of its own (``b`` is "").
    ``seq`` orders them: a later correction wins over an earlier one."""

    chunk: int
    seq: int
    kind: str  # "merge" or "split"
    a: str
    b: str = ""

    def names(self) -> tuple[str, ...]:
        return (self.a, self.b) if self.kind == "merge" else (self.a,)


def name_gender(st: NameStat) -> str | None:
    """A name's own gender from the pronouns around it (strong evidence only)."""
    if st.he >= 3 and st.he >= 3 * st.she:
        return "m"
    if st.she >= 3 and st.she >= 3 * st.he:
        return "f"
    return None
