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
  0.55, ...);
* **cast**: one lore line naming who else is in the story lately: the characters
  and places named in the most of the last :data:`CAST_WINDOW` chunks (up to
  :data:`CAST_SIZE`, those with a card of their own left out). A few dozen names
  cost about as much as one card; on Pride and Prejudice a 30-chunk roster beside
  the last chunk alone names 90% of the known characters and places of the next
  chunk (docs/compare/README.md). It scores :data:`CAST_SCORE`, below the named
  entities' cards and above every link or vector hit, and has no short form: when
  the lore runs short the weaker cards are shortened and dropped before it. At
  0.5, with half the names as its short form, vector and graph cards squeezed it:
  P&P recall at 2,048 tokens was 0.878, and 0.943 with vector search switched off;
  ranked above them and whole, 0.937 (``benchmarks/compare_pp.py --nll-samples 0``).

Near-duplicates are then removed: within a section, a candidate whose word set
overlaps a better-scored kept one by ``dup_threshold`` (Jaccard) or more is marked
dropped with the reason. The summary of chunk ``at`` itself is dropped too: the
last chunk is in the prompt verbatim.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from automuse_rag.assemble.assembler import AssembledPrompt, Candidate, assemble
from automuse_rag.assemble.templates import Template, load_template
from automuse_rag.errors import InputError
from automuse_rag.memory.api import OutlinePart, StoryView
from automuse_rag.memory.types import ChunkRecord, Entity

_WORDS = re.compile(r"\w+", re.UNICODE)
#: The retrieval activations; ``activations=`` switches them off one by one (ablations).
ACTIVATIONS = frozenset({"names", "graph", "vector", "recency", "cast"})
CAST_WINDOW = 30  # chunks back the cast line counts names in
CAST_SIZE = 40  # names at most
CAST_SCORE = 0.85  # below named entities (0.9-1.0), above graph links and vector hits
CAST_HEAD = "Also in the story lately: "  # names follow, joined by "; ", then "."
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


def card_with_links(view: Entity, edges: dict[str, dict[str, Any]], names: dict[str, str], max_links: int = 3) -> str:
    """An entity's full lore card: ``Entity.card()`` plus its strongest links in the
    character graph (``edges``: other id -> edge data), with relation labels."""
    card = view.card()
    top = sorted(edges.items(), key=lambda kv: (-kv[1].get("weight", 1), kv[0]))[:max_links]
    links = []
    for other, data in top:
        labels = ", ".join(dict.fromkeys(r["label"] for r in data.get("relations", [])))
        links.append(names.get(other, other) + (f" ({labels})" if labels else ""))
    return card + (" Links: " + "; ".join(links) + "." if links else "")


def lore_card(view: Entity, graph: Any, names: dict[str, str], max_links: int = 3) -> str:
    """:func:`card_with_links` with the edges read from a networkx graph."""
    edges = dict(graph[view.id]) if graph is not None and view.id in graph else {}
    return card_with_links(view, edges, names, max_links)


def _summary_candidate(rec: ChunkRecord, score: float, source: str) -> Candidate:
    return Candidate(
        id=f"summary:{rec.index}",
        section="memories",
        text=rec.summary,
        short_text=first_sentence(rec.summary),
        chunk=rec.index,
        score=score,
        chapter=rec.chapter,
        kind="summary",
        sources=(source,),
    )


@dataclass
class _Context:
    """What one retrieval reads as of ``at``, fetched by targeted queries and cached."""

    story: StoryView
    at: int
    edges: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)

    def neighbours(self, ids: Iterable[str]) -> dict[str, dict[str, dict[str, Any]]]:
        missing = sorted(set(ids) - set(self.edges))
        if missing:
            self.edges.update(self.story.neighbours(missing, as_of=self.at))
        return self.edges


def _entity_activation(ctx: _Context, named: dict[str, int], neighbours: int) -> list[tuple[str, float, str]]:
    """(entity id, score, source): the named entities, then their strongest neighbours."""
    out = [(eid, 0.9 + 0.01 * min(n, 10), "named") for eid, n in named.items()]
    if neighbours <= 0 or not named:
        return out
    edges = ctx.neighbours(named)
    for eid in named:
        top = sorted(edges.get(eid, {}).items(), key=lambda kv: (-kv[1].get("weight", 1), kv[0]))[:neighbours]
        best = max((d.get("weight", 1) for _, d in top), default=1) or 1
        for other, data in top:
            if other not in named:
                out.append((other, 0.3 + 0.4 * data.get("weight", 1) / best, "graph"))
    return out


def _vector_activation(story: StoryView, at: int, query: str, k: int) -> tuple[list[tuple[int, float]], list[tuple[str, float]]]:
    """(summary chunk, score) and (entity id, score) hits as of ``at``."""
    summaries = [(h.chunk, float(h.score)) for h in story.search(query, k=k, as_of=at, kinds=("summary",)) if h.chunk <= at]
    entities = [
        (str(h.metadata.get("entity_id", h.id.removeprefix("entity:"))), float(h.score))
        for h in story.search(query, k=max(1, k // 2), as_of=at, kinds=("entity",))
    ]
    return summaries, entities


def _entity_candidates(ctx: _Context, found: list[tuple[str, float, str]]) -> list[Candidate]:
    if not found:
        return []
    views = {v.id: v for v in ctx.story.entities(as_of=ctx.at, ids=sorted({e for e, _, _ in found}))}
    edges = ctx.neighbours(views)
    linked = {o for eid in views for o in edges.get(eid, {})}
    names = ctx.story.entity_names(sorted(linked | set(views)), as_of=ctx.at)
    last_desc = {eid: max((c for c, _ in v.descriptions), default=v.last_chunk) for eid, v in views.items()}
    chapters = ctx.story.chapters(sorted(set(last_desc.values())))
    out = []
    for eid, score, source in found:
        view = views.get(eid)
        if view is None:  # not known as of ``at`` (a store must not return it; stay safe)
            continue
        chunk = last_desc[eid]
        out.append(
            Candidate(
                id=f"entity:{eid}",
                section="lore",
                text=card_with_links(view, edges.get(eid, {}), names),
                short_text=view.one_line(),
                chunk=chunk,
                score=score,
                chapter=chapters.get(chunk, 0),
                kind="entity",
                sources=(source,),
                entity_id=eid,
            )
        )
    return out


def _cast_candidate(story: StoryView, at: int, carded: set[str], chapter: int) -> list[Candidate]:
    """The cast line: who else is in the story lately (see the module docstring)."""
    names = [name for eid, name, _ in story.active(at, CAST_WINDOW, CAST_SIZE + len(carded)) if eid not in carded]
    names = names[:CAST_SIZE]
    if not names:
        return []
    return [
        Candidate(
            id="cast",
            section="lore",
            text=CAST_HEAD + "; ".join(names) + ".",
            short_text="",  # whole or not at all: cards below it are shortened, then dropped, first
            chunk=at,
            score=CAST_SCORE,
            chapter=chapter,
            kind="cast",
            sources=("cast",),
        )
    ]


def _recency_activation(records: dict[int, ChunkRecord], at: int, recency: int) -> list[Candidate]:
    recent = [r for i, r in sorted(records.items()) if at - recency <= i < at]
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
        twin = next(
            ((k, _jaccard(words, w)) for k, w in kept if k.section == c.section and _jaccard(words, w) >= threshold), None
        )
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
    window: dict[int, ChunkRecord] | None = None,
    activations: frozenset[str] = ACTIVATIONS,
) -> list[Candidate]:
    """Candidates for the prompt that precedes chunk ``at + 1``, from chunks ``<= at`` only.

    Merges the entity, vector and recency activations (see the module docstring),
    then marks near-duplicates dropped. ``activations`` (a subset of
    :data:`ACTIVATIONS`) switches activations off: "graph" needs "names" (neighbours
    of the named entities). ``window`` may hold the records of chunks
    ``at - recency .. at`` already read. ``at < 0`` (nothing written) gives []."""
    unknown = set(activations) - ACTIVATIONS
    if unknown:
        raise InputError(f"unknown retrieval activations: {', '.join(sorted(unknown))}")
    if at < 0:
        return []
    if window is None:
        window = story.records_at(range(max(0, at - recency), at + 1))
    window = {i: r for i, r in window.items() if i <= at}
    if not window:
        return []
    last = window.get(at, window[max(window)])
    ctx = _Context(story, at)
    query = last.text + ("\n" + outline_part if outline_part else "")
    found: list[tuple[str, float, str]] = []
    cands: list[Candidate] = []
    if "names" in activations:
        found += _entity_activation(ctx, story.named_in(last.text, as_of=at), neighbours if "graph" in activations else 0)
    if "vector" in activations:
        summary_hits, entity_hits = _vector_activation(story, at, query, k)
        records = story.records_at([c for c, _ in summary_hits if c not in window])
        records.update(window)
        cands += [_summary_candidate(records[c], score, "vector") for c, score in summary_hits if c in records]
        found += [(eid, score, "vector") for eid, score in entity_hits]
    cands += _entity_candidates(ctx, found)
    if "recency" in activations:
        cands += _recency_activation(window, at, recency)
    if "cast" in activations:
        cands += _cast_candidate(story, at, {c.entity_id for c in cands if c.entity_id}, last.chapter)
    return dedupe(_merge(cands), at, dup_threshold)


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
    t0 = time.perf_counter()
    top = story.last_index()
    if at < -1 or at > top:
        raise InputError(
            f"position {at} is outside story {story.name!r}, which has chunks 0..{top} (use -1 for before the first)"
        )
    window = story.records_at(range(max(0, at - 3), at + 1)) if at >= 0 else {}
    last = window[max(window)] if window else None
    if chapter is None and last is not None:
        chapter = last.chapter
    part = outline_part_for(story, chapter)
    candidates = gather_candidates(story, at, k=k, outline_part=part.text, window=window, activations=activations)
    t1 = time.perf_counter()
    prompt = assemble(
        template or load_template(),
        story.outline,
        part.text,
        candidates,
        last.text if last is not None else "",
        budget,
        count_tokens,
        last_chunk_index=at,
    )
    t2 = time.perf_counter()
    prompt.timings_ms = {
        "retrieval": round((t1 - t0) * 1000, 2),
        "assembly": round((t2 - t1) * 1000, 2),
        "total": round((t2 - t0) * 1000, 2),
    }
    return prompt
