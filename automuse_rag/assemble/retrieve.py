"""Retrieval as of a story position, over the :class:`~automuse_rag.memory.api.StoryView`
protocol only.

Position ``at`` is the index of the last chunk already written; the prompt built
here precedes chunk ``at + 1``. Every candidate comes from chunks ``0..at`` and every
entity card is built from the entity as known after chunk ``at``
(``story.entities(as_of=at)``) and the graph as of ``at`` (a card lists the
entity's strongest links with their relation labels), so nothing from a later
chunk can leak.

Three activations, merged by id (a candidate found twice keeps its best score and
both sources):

* **entities**: entities named in the last chunk (by name or by any alias known at
  ``at``), score 0.9-1.0 by how often they are named, plus their strongest graph
  neighbours as of ``at`` (score 0.3-0.7 by edge weight);
* **vector**: ``story.search`` over summaries and entity cards with the last chunk
  and the current outline part as the query (score = similarity);
* **recency**: the summaries of the chunks just before the last chunk (score 0.6,
  0.55, ...).

Near-duplicates are then removed: within a section, a candidate whose word set
overlaps a better-scored kept one by ``dup_threshold`` (Jaccard) or more is marked
dropped with the reason. The summary of chunk ``at`` itself is dropped too: the
last chunk is in the prompt verbatim.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

from automuse_rag.assemble.assembler import AssembledPrompt, Candidate, assemble
from automuse_rag.assemble.templates import Template, load_template
from automuse_rag.errors import InputError
from automuse_rag.memory.api import OutlinePart, StoryView
from automuse_rag.memory.types import ChunkRecord, Entity

_WORDS = re.compile(r"\w+", re.UNICODE)
#: The retrieval activations; ``activations=`` switches them off one by one (ablations).
ACTIVATIONS = frozenset({"names", "graph", "vector", "recency"})
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"”’)]?\s+")
SHORT_WORDS = 30


def first_sentence(text: str, max_words: int = SHORT_WORDS) -> str:
    """A summary's shortest form: its first sentence, at most ``max_words`` words."""
    text = " ".join(text.split())
    sentence = _SENTENCE_END.split(text, maxsplit=1)[0]
    words = sentence.split()
    return " ".join(words[:max_words]) + ("…" if len(words) > max_words else "")


def outline_part_for(story: StoryView, chapter: int | None) -> OutlinePart:
    """The outline part for ``chapter``: an exact match, else the latest part before
    it, else the first part (``chapter=None`` gives the first part)."""
    parts = story.outline_parts() or [OutlinePart(0, "", story.outline)]
    if chapter is None:
        return parts[0]
    exact = [p for p in parts if p.chapter == chapter]
    if exact:
        return exact[0]
    before = [p for p in parts if p.chapter <= chapter]
    return max(before, key=lambda p: p.chapter) if before else parts[0]


# -- activations ---------------------------------------------------------------

def lore_card(view: Entity, graph: Any, names: dict[str, str], max_links: int = 3) -> str:
    """An entity's full lore card as of the graph's position: ``Entity.card()`` plus
    its strongest links in the character graph (with relation labels)."""
    card = view.card()
    if graph is None or view.id not in graph:
        return card
    edges = sorted(graph[view.id].items(), key=lambda kv: (-kv[1].get("weight", 1), kv[0]))[:max_links]
    links = []
    for other, data in edges:
        labels = ", ".join(dict.fromkeys(r["label"] for r in data.get("relations", [])))
        links.append(names.get(other, other) + (f" ({labels})" if labels else ""))
    return card + (" Links: " + "; ".join(links) + "." if links else "")


def _entity_candidate(view: Entity, score: float, source: str, ctx: "_Context") -> Candidate:
    chunk = max((c for c, _ in view.descriptions), default=view.last_chunk)
    return Candidate(
        id=f"entity:{view.id}", section="lore", text=lore_card(view, ctx.graph, ctx.names), short_text=view.one_line(),
        chunk=chunk, score=score, chapter=ctx.chapters.get(chunk, 0), kind="entity",
        sources=(source,), entity_id=view.id,
    )


def _summary_candidate(rec: ChunkRecord, score: float, source: str) -> Candidate:
    return Candidate(
        id=f"summary:{rec.index}", section="memories", text=rec.summary, short_text=first_sentence(rec.summary),
        chunk=rec.index, score=score, chapter=rec.chapter, kind="summary", sources=(source,),
    )


def named_entities(text: str, entities: Iterable[Entity]) -> dict[str, int]:
    """Entity id -> how often any of its names (as known) occurs in ``text`` as a whole word."""
    owners: dict[str, str] = {}
    for ent in entities:
        for name in ent.names():
            if len(name) >= 2:
                owners.setdefault(name, ent.id)
    if not owners:
        return {}
    names = sorted(owners, key=lambda n: (-len(n), n))
    pattern = re.compile(r"(?<!\w)(?:" + "|".join(re.escape(n) for n in names) + r")(?!\w)")
    counts: dict[str, int] = {}
    for match in pattern.finditer(text):
        eid = owners[match.group(0)]
        counts[eid] = counts.get(eid, 0) + 1
    return counts


@dataclass
class _Context:
    """What one retrieval knows as of ``at``."""

    at: int
    by_index: dict[int, ChunkRecord]
    chapters: dict[int, int]
    views: dict[str, Entity]
    names: dict[str, str]
    graph: Any


def _entity_activation(ctx: _Context, last_text: str, neighbours: int) -> list[Candidate]:
    named = named_entities(last_text, ctx.views.values())
    out = [_entity_candidate(ctx.views[eid], 0.9 + 0.01 * min(n, 10), "named", ctx) for eid, n in named.items()]
    if neighbours <= 0:
        return out
    for eid in named:
        if eid not in ctx.graph:
            continue
        edges = sorted(ctx.graph[eid].items(), key=lambda kv: (-kv[1].get("weight", 1), kv[0]))[:neighbours]
        top = max((d.get("weight", 1) for _, d in edges), default=1) or 1
        for other, data in edges:
            if other in ctx.views and other not in named:
                score = 0.3 + 0.4 * data.get("weight", 1) / top
                out.append(_entity_candidate(ctx.views[other], score, "graph", ctx))
    return out


def _vector_activation(story: StoryView, ctx: _Context, query: str, k: int) -> list[Candidate]:
    out: list[Candidate] = []
    for hit in story.search(query, k=k, as_of=ctx.at, kinds=("summary",)):
        rec = ctx.by_index.get(hit.chunk)
        if rec is not None and rec.index <= ctx.at:  # defensive: the store promises as-of already
            out.append(_summary_candidate(rec, float(hit.score), "vector"))
    for hit in story.search(query, k=max(1, k // 2), as_of=ctx.at, kinds=("entity",)):
        view = ctx.views.get(str(hit.metadata.get("entity_id", hit.id.removeprefix("entity:"))))
        if view is not None:
            out.append(_entity_candidate(view, float(hit.score), "vector", ctx))
    return out


def _recency_activation(records: list[ChunkRecord], at: int, recency: int) -> list[Candidate]:
    recent = [r for r in records if at - recency <= r.index < at]
    return [_summary_candidate(r, 0.6 - 0.05 * (at - 1 - r.index), "recency") for r in recent]


# -- merging -------------------------------------------------------------------

def _merge(cands: Iterable[Candidate]) -> list[Candidate]:
    merged: dict[str, Candidate] = {}
    for c in cands:
        old = merged.get(c.id)
        if old is None:
            merged[c.id] = c
        else:
            sources = tuple(dict.fromkeys(old.sources + c.sources))
            best = c if c.score > old.score else old
            merged[c.id] = replace(best, sources=sources)
    return sorted(merged.values(), key=lambda c: (c.section, -c.score, c.id))


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def dedupe(cands: list[Candidate], at: int, threshold: float) -> list[Candidate]:
    """Mark near-duplicates (and the last chunk's own summary) as dropped, keeping
    the better-scored of each near-duplicate pair."""
    kept: list[tuple[Candidate, set[str]]] = []
    out = []
    for c in sorted(cands, key=lambda c: (-c.score, c.id)):
        if c.kind == "summary" and c.chunk == at:
            out.append(replace(c, drop_reason="summary of the last chunk, which is in the prompt verbatim"))
            continue
        words = set(_WORDS.findall(c.text.lower()))
        twin = next(((k, _jaccard(words, w)) for k, w in kept if k.section == c.section and _jaccard(words, w) >= threshold), None)
        if twin is not None:
            out.append(replace(c, drop_reason=f"near-duplicate of {twin[0].id} (word overlap {twin[1]:.2f})"))
            continue
        kept.append((c, words))
        out.append(c)
    return out


def gather_candidates(
    story: StoryView,
    at: int,
    *,
    k: int = 8,
    outline_part: str = "",
    neighbours: int = 3,
    recency: int = 3,
    dup_threshold: float = 0.8,
    records: list[ChunkRecord] | None = None,
    activations: frozenset[str] = ACTIVATIONS,
) -> list[Candidate]:
    """Candidates for the prompt that precedes chunk ``at + 1``, from chunks ``<= at`` only.

    Merges the entity, vector and recency activations (see the module docstring),
    then marks near-duplicates dropped. ``activations`` (a subset of
    :data:`ACTIVATIONS`) switches activations off: "graph" needs "names" (neighbours
    of the named entities). ``at < 0`` (nothing written) gives []."""
    unknown = set(activations) - ACTIVATIONS
    if unknown:
        raise InputError(f"unknown retrieval activations: {', '.join(sorted(unknown))}")
    if at < 0:
        return []
    records = records if records is not None else story.records(upto=at)
    records = [r for r in records if r.index <= at]
    if not records:
        return []
    views = {e.id: e for e in story.entities(as_of=at)}
    ctx = _Context(
        at=at,
        by_index={r.index: r for r in records},
        chapters={r.index: r.chapter for r in records},
        views=views,
        names={eid: e.name for eid, e in views.items()},
        graph=story.graph(as_of=at),
    )
    last = ctx.by_index.get(at, records[-1])
    query = last.text + ("\n" + outline_part if outline_part else "")
    found: list[Candidate] = []
    if "names" in activations:
        found += _entity_activation(ctx, last.text, neighbours if "graph" in activations else 0)
    if "vector" in activations:
        found += _vector_activation(story, ctx, query, k)
    if "recency" in activations:
        found += _recency_activation(records, at, recency)
    return dedupe(_merge(found), at, dup_threshold)


def build_prompt(
    story: StoryView,
    at: int,
    *,
    budget: int,
    count_tokens: Callable[[str], int],
    template: Template | None = None,
    chapter: int | None = None,
    k: int = 8,
    activations: frozenset[str] = ACTIVATIONS,
) -> AssembledPrompt:
    """The prompt that precedes chunk ``at + 1`` of ``story``, within ``budget`` tokens.

    ``at`` is the index of the last chunk already in the story; ``at = -1`` means
    nothing written yet (no last chunk, no memories: outline and cue only).
    ``chapter`` selects the outline part (default: the chapter of chunk ``at``, or
    the first part when ``at = -1``). Used by the dataset export, generation and
    compare. Raises InputError for a position outside the story, BudgetError when
    the fixed parts cannot fit."""
    size = len(story)
    if at < -1 or at >= size:
        raise InputError(f"position {at} is outside story {story.name!r}, which has chunks 0..{size - 1} (use -1 for before the first)")
    records = story.records(upto=at) if at >= 0 else []
    last = records[-1] if records else None
    if chapter is None and last is not None:
        chapter = last.chapter
    part = outline_part_for(story, chapter)
    candidates = gather_candidates(story, at, k=k, outline_part=part.text, records=records, activations=activations)
    return assemble(
        template or load_template(),
        story.outline,
        part.text,
        candidates,
        last.text if last is not None else "",
        budget,
        count_tokens,
        last_chunk_index=at,
    )
