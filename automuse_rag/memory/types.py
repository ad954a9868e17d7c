"""Data types of story memory, shared by ingest, assembly, generation and compare.

Everything carries the chunk it came from, so that memory *as of* chunk ``i`` can be
rebuilt from nothing after ``i``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypedDict


class RelationRef(TypedDict):
    """One labelled relation on a graph edge."""

    label: str
    chunk: int
    source: str
    via: str


class EdgeData(TypedDict):
    """One edge of the character graph as of a chunk: the chunks where the two
    entities co-occur or are related, their number, and the relations' labels."""

    chunks: list[int]
    weight: int
    relations: list[RelationRef]


#: An entity's edges: other entity id -> edge data.
Edges = dict[str, EdgeData]


@dataclass(frozen=True)
class OutlinePart:
    """One chapter's part of the outline (chapter 0: an outline without chapters)."""

    chapter: int
    title: str
    text: str


@dataclass(frozen=True)
class ChunkRecord:
    """One ingested (or generated) chunk with its summary."""

    index: int
    id: str
    chapter: int
    chapter_title: str
    text: str
    summary: str


@dataclass(frozen=True)
class Hit:
    """A retrieved memory: a chunk summary, an entity card or a raw chunk."""

    id: str
    kind: str  # "summary" | "entity" | "chunk"
    text: str
    chunk: int  # source chunk (for an entity: the last chunk it was described in, as of the query)
    chapter: int
    score: float  # similarity in [0, 1] (higher is closer)
    metadata: dict[str, Any] = field(default_factory=dict)
