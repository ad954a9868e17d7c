"""Entity cards as prompts show them: ``Entity.card()``, the entity's strongest links in
the character graph, and one short line of the state facts in force (memory/facts.py),
each with the chunk where it became true ("Henry Clerval: died (chunk 412)")."""

from __future__ import annotations

import heapq
from collections.abc import Sequence

from automuse_rag.lore.continuity import KnownFact
from automuse_rag.lore.entity import Entity
from automuse_rag.memory.facts import fact_phrase
from automuse_rag.memory.snapshot import StorySnapshot
from automuse_rag.memory.types import EdgeData


def facts_line(name: str, facts: Sequence[KnownFact]) -> str:
    """One short line of an entity's facts: "Henry Clerval: died (chunk 412); blue eyes
    (chunk 3)" ("" when it has none)."""
    first: dict[str, int] = {}  # each phrase where it was first said ("died" may be stated twice)
    for k in facts:
        phrase = fact_phrase(k.fact.kind, k.fact.value)
        first[phrase] = min(first.get(phrase, k.fact.chunk), k.fact.chunk)
    said = [f"{phrase} (chunk {chunk})" for phrase, chunk in first.items()]
    return f"{name}: {'; '.join(said)}" if said else ""


def with_facts(card: str, name: str, facts: Sequence[KnownFact]) -> str:
    """``card`` followed by the entity's facts line (unchanged when it has none)."""
    line = facts_line(name, facts)
    return f"{card} {line}." if line else card


def card_with_links(
    view: Entity, edges: dict[str, EdgeData], names: dict[str, str], max_links: int = 3, facts: Sequence[KnownFact] = ()
) -> str:
    """An entity's full lore card: ``Entity.card()`` plus its strongest links in the
    character graph (``edges``: other id -> edge data), with relation labels, and its
    facts line (``facts``: the entity's facts in force)."""
    card = view.card()
    top = heapq.nsmallest(max_links, edges.items(), key=lambda kv: (-kv[1].get("weight", 1), kv[0]))  # = sorted()[:n]
    links = []
    for other, data in top:
        labels = ", ".join(dict.fromkeys(r["label"] for r in data.get("relations", [])))
        links.append(names.get(other, other) + (f" ({labels})" if labels else ""))
    return with_facts(card + (" Links: " + "; ".join(links) + "." if links else ""), view.name, facts)


def linked_card(snap: StorySnapshot, view: Entity) -> str:
    """:func:`card_with_links` with the entity's edges, its links' names and its facts
    read from the snapshot."""
    edges = snap.neighbours([view.id])[view.id]
    return card_with_links(view, edges, snap.names(edges), facts=snap.facts([view.id]))


def facts_by_entity(snap: StorySnapshot, ids: Sequence[str]) -> dict[str, list[KnownFact]]:
    """Entity id -> its facts in force at the snapshot (one read for all ``ids``)."""
    out: dict[str, list[KnownFact]] = {}
    for k in snap.facts(ids) if ids else []:
        out.setdefault(k.entity, []).append(k)
    return out
