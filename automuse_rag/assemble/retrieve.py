"""Retrieval as of a story position, over a
:class:`~automuse_rag.memory.snapshot.StorySnapshot` only.

The snapshot's position ``at`` is the index of the last chunk already written; the
prompt built here precedes chunk ``at + 1``. Every candidate comes from chunks
``0..at`` and every entity card is built from the entity as known after chunk ``at``
(``snap.entities()``) and the graph as of ``at`` (a card lists the entity's strongest
links with their relation labels, and the state facts in force then with the chunk
each became true: assemble/cards.py), so nothing from a later chunk can leak.

Three activations, merged by id (a candidate found twice keeps its best score and
both sources):

* **entities**: entities named in the last chunk (by name or by any alias known at
  ``at``), score 0.9-1.0 by how often they are named, plus their strongest graph
  neighbours as of ``at`` (score 0.3-0.7 by edge weight);
* **vector**: ``snap.search`` over summaries and entity cards with the last chunk
  and the current outline part as the query (score = similarity);
* **recency**: the summaries of the :data:`RECENCY` chunks just before the last
  chunk (score 0.6, 0.55, ...);
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

A writer's imported lorebook (``automuse lorebook import``; ``snap.lorebook()``, the
writer's own, known from before the first chunk) adds its constant entries and those
with a key the last chunk names (whole word, any case) as lore at
:data:`LOREBOOK_SCORE`, above every card the story's lore gives: the writer's word
wins. A card of an entity one of whose names is a key of an entry in the prompt is
dropped for it. Before the first chunk only the constant entries come in.

Near-duplicates are then removed: within a section, a candidate whose word set
overlaps a better-scored kept one by ``dup_threshold`` (Jaccard) or more is marked
dropped with the reason. The summary of chunk ``at`` itself is dropped too: the
last chunk is in the prompt verbatim.
"""

from __future__ import annotations

import heapq
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from functools import lru_cache
from typing import Protocol, TypeVar

from automuse_rag.assemble.assembler import AssembledPrompt, Candidate, assemble
from automuse_rag.assemble.cards import card_with_links, facts_by_entity, with_facts
from automuse_rag.assemble.templates import Template, load_template
from automuse_rag.errors import InputError
from automuse_rag.memory.snapshot import StorySnapshot
from automuse_rag.memory.types import ChunkRecord

_WORDS = re.compile(r"\w+", re.UNICODE)
RECENCY = 3  # summaries of the chunks just before the last one
#: The retrieval activations; ``activations=`` switches them off one by one (ablations).
ACTIVATIONS = frozenset({"names", "graph", "vector", "recency", "cast"})
CAST_WINDOW = 30  # chunks back the cast line counts names in
CAST_SIZE = 40  # names at most
CAST_SCORE = 0.85  # below named entities (0.9-1.0), above graph links and vector hits
CAST_HEAD = "Also in the story lately: "  # names follow, joined by "; ", then "."
LOREBOOK_SCORE = 1.05  # the writer's imported entries: above named entities' cards (0.9-1.0)
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"”’)]?\s+")
SHORT_WORDS = 30


def first_sentence(text: str, max_words: int = SHORT_WORDS) -> str:
    """A summary's shortest form: its first sentence, at most ``max_words`` words."""
    text = " ".join(text.split())
    sentence = _SENTENCE_END.split(text, maxsplit=1)[0]
    words = sentence.split()
    return " ".join(words[:max_words]) + ("…" if len(words) > max_words else "")


# -- activations ---------------------------------------------------------------


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


def neighbour_scores(
    snap: StorySnapshot, ids: Iterable[str], neighbours: int, source: str = "graph"
) -> list[tuple[str, float, str]]:
    """(entity id, score, source) for the strongest ``neighbours`` graph neighbours of
    each of ``ids`` not among them: 0.3-0.7 by edge weight against the strongest."""
    ids = list(dict.fromkeys(ids))
    if neighbours <= 0 or not ids:
        return []
    edges = snap.neighbours(ids)
    out = []
    for eid in ids:
        top = heapq.nsmallest(neighbours, edges.get(eid, {}).items(), key=lambda kv: (-kv[1].get("weight", 1), kv[0]))
        best = max((d.get("weight", 1) for _, d in top), default=1) or 1
        for other, data in top:
            if other not in ids:
                out.append((other, 0.3 + 0.4 * data.get("weight", 1) / best, source))
    return out


def _entity_activation(snap: StorySnapshot, named: dict[str, int], neighbours: int) -> list[tuple[str, float, str]]:
    """(entity id, score, source): the named entities, then their strongest neighbours."""
    out = [(eid, 0.9 + 0.01 * min(n, 10), "named") for eid, n in named.items()]
    return out + neighbour_scores(snap, named, neighbours)


def _vector_activation(snap: StorySnapshot, query: str, k: int) -> tuple[list[tuple[int, float]], list[tuple[str, float]]]:
    """(summary chunk, score) and (entity id, score) hits as of the snapshot."""
    summaries = [(h.chunk, float(h.score)) for h in snap.search(query, k=k, kinds=("summary",))]
    entities = [
        (str(h.metadata.get("entity_id", h.id.removeprefix("entity:"))), float(h.score))
        for h in snap.search(query, k=max(1, k // 2), kinds=("entity",))
    ]
    return summaries, entities


def _entity_candidates(snap: StorySnapshot, found: list[tuple[str, float, str]]) -> list[Candidate]:
    if not found:
        return []
    views = {v.id: v for v in snap.entities(sorted({e for e, _, _ in found}))}
    edges = snap.neighbours(views)
    linked = {o for eid in views for o in edges.get(eid, {})}
    names = snap.names(linked | set(views))
    facts = facts_by_entity(snap, sorted(views))
    last_desc = {eid: v.last_described for eid, v in views.items()}
    chapters = snap.chapters(sorted(set(last_desc.values())))
    out = []
    for eid, score, source in found:
        view = views.get(eid)
        if view is None:  # not known at the snapshot (a store must not return it; stay safe)
            continue
        chunk = last_desc[eid]
        out.append(
            Candidate(
                id=f"entity:{eid}",
                section="lore",
                text=card_with_links(view, edges.get(eid, {}), names, facts=facts.get(eid, ())),
                short_text=with_facts(view.one_line(), view.name, facts.get(eid, ())),
                chunk=chunk,
                score=score,
                chapter=chapters.get(chunk, 0),
                kind="entity",
                sources=(source,),
                entity_id=eid,
            )
        )
    return out


def _cast_candidate(snap: StorySnapshot, carded: set[str], chapter: int) -> list[Candidate]:
    """The cast line: who else is in the story lately (see the module docstring)."""
    names = [name for eid, name, _ in snap.active(CAST_WINDOW, CAST_SIZE + len(carded)) if eid not in carded]
    names = names[:CAST_SIZE]
    if not names:
        return []
    return [
        Candidate(
            id="cast",
            section="lore",
            text=CAST_HEAD + "; ".join(names) + ".",
            short_text="",  # whole or not at all: cards below it are shortened, then dropped, first
            chunk=snap.at,
            score=CAST_SCORE,
            chapter=chapter,
            kind="cast",
            sources=("cast",),
        )
    ]


def _lorebook_candidates(snap: StorySnapshot, text: str, chapter: int) -> tuple[list[Candidate], dict[str, str]]:
    """The writer's lorebook entries for a prompt after ``text`` (the last chunk; ""
    before the first): the constant ones and those with a key ``text`` names. Also
    each key of theirs (casefolded) -> its entry's name."""
    out: list[Candidate] = []
    keys: dict[str, str] = {}
    for i, entry in enumerate(snap.lorebook()):
        named = [k for k in entry.keys if re.search(rf"(?<!\w){re.escape(k)}(?!\w)", text, re.IGNORECASE)]
        if not entry.constant and not named:
            continue
        out.append(
            Candidate(
                id=f"lorebook:{i}",
                section="lore",
                text=entry.content,
                short_text=first_sentence(entry.content),
                chunk=-1,  # the writer's own: known from before the first chunk
                score=LOREBOOK_SCORE,
                chapter=chapter,
                kind="lorebook",
                sources=("lorebook",),
            )
        )
        keys.update((k.casefold(), entry.name) for k in (entry.name, *entry.keys))
    return out, keys


def _give_way(snap: StorySnapshot, cands: list[Candidate], keys: dict[str, str]) -> list[Candidate]:
    """Drop the story's card of an entity one of whose names is a key of an entry in the prompt."""
    ids = sorted({c.entity_id for c in cands if c.entity_id and c.kind == "entity" and c.drop_reason is None})
    if not ids or not keys:
        return cands
    owner = {v.id: next((keys[n.casefold()] for n in v.names() if n.casefold() in keys), None) for v in snap.entities(ids)}
    return [
        replace(c, drop_reason=f"the writer's lorebook entry {owner[c.entity_id]!r} covers it")
        if c.kind == "entity" and c.drop_reason is None and c.entity_id and owner.get(c.entity_id)
        else c
        for c in cands
    ]


def _recency_activation(records: dict[int, ChunkRecord], at: int, recency: int) -> list[Candidate]:
    recent = [r for i, r in sorted(records.items()) if at - recency <= i < at]
    return [_summary_candidate(r, 0.6 - 0.05 * (at - 1 - r.index), "recency") for r in recent]


# -- merging -------------------------------------------------------------------


class _Merged(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def score(self) -> float: ...

    @property
    def sources(self) -> tuple[str, ...]: ...


M = TypeVar("M", bound=_Merged)


def merge_by_id(items: Iterable[M]) -> list[M]:
    """One item per id: the best-scored, with the sources of all (in first-seen order)."""
    merged: dict[str, M] = {}
    for c in items:
        old = merged.get(c.id)
        if old is None:
            merged[c.id] = c
        else:
            sources = tuple(dict.fromkeys(old.sources + c.sources))
            best = c if c.score > old.score else old
            merged[c.id] = replace(best, sources=sources)  # type: ignore[type-var]  # frozen dataclasses
    return list(merged.values())


def _merge(cands: Iterable[Candidate]) -> list[Candidate]:
    return sorted(merge_by_id(cands), key=lambda c: (c.section, -c.score, c.id))


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def _near(a: frozenset[str], b: frozenset[str], threshold: float) -> bool:
    """``_jaccard(a, b) >= threshold``, without the sets' union and intersection when
    their sizes alone rule it out (the overlap is at most the smaller over the larger)."""
    small, large = sorted((len(a), len(b)))
    if large and small / large < threshold:  # rounding is monotonic: the bound holds in floats
        return False
    return _jaccard(a, b) >= threshold


@lru_cache(maxsize=4096)
def _word_set(text: str) -> frozenset[str]:
    """A candidate's words, lower-cased (kept: neighbouring prompts share most texts)."""
    return frozenset(_WORDS.findall(text.lower()))


def dedupe(cands: list[Candidate], at: int, threshold: float) -> list[Candidate]:
    """Mark near-duplicates (and the last chunk's own summary) as dropped, keeping
    the better-scored of each near-duplicate pair."""
    kept: list[tuple[Candidate, frozenset[str]]] = []
    out = []
    for c in sorted(cands, key=lambda c: (-c.score, c.id)):
        if c.kind == "summary" and c.chunk == at:
            out.append(replace(c, drop_reason="summary of the last chunk, which is in the prompt verbatim"))
            continue
        words = _word_set(c.text)
        twin = next(((k, _jaccard(words, w)) for k, w in kept if k.section == c.section and _near(words, w, threshold)), None)
        if twin is not None:
            out.append(replace(c, drop_reason=f"near-duplicate of {twin[0].id} (word overlap {twin[1]:.2f})"))
            continue
        kept.append((c, words))
        out.append(c)
    return out


def gather_candidates(
    snap: StorySnapshot,
    *,
    k: int = 8,
    outline_part: str = "",
    neighbours: int = 3,
    recency: int = RECENCY,
    dup_threshold: float = 0.8,
    activations: frozenset[str] = ACTIVATIONS,
) -> list[Candidate]:
    """Candidates for the prompt that precedes chunk ``snap.at + 1``, from chunks
    ``<= snap.at`` only.

    Merges the entity, vector and recency activations (see the module docstring),
    then marks near-duplicates dropped. ``activations`` (a subset of
    :data:`ACTIVATIONS`) switches activations off: "graph" needs "names" (neighbours
    of the named entities). A snapshot before the first chunk gives the constant entries
    of the writer's lorebook only (none without one)."""
    unknown = set(activations) - ACTIVATIONS
    if unknown:
        raise InputError(f"unknown retrieval activations: {', '.join(sorted(unknown))}")
    at = snap.at
    window = snap.window(recency)
    if not window:
        return _lorebook_candidates(snap, "", snap.outline_part(None).chapter)[0]
    last = window.get(at, window[max(window)])
    query = last.text + ("\n" + outline_part if outline_part else "")
    found: list[tuple[str, float, str]] = []
    cands: list[Candidate] = []
    if "names" in activations:
        found += _entity_activation(snap, snap.named_in(last.text), neighbours if "graph" in activations else 0)
    if "vector" in activations:
        summary_hits, entity_hits = _vector_activation(snap, query, k)
        records = snap.records_at([c for c, _ in summary_hits if c not in window])
        records.update(window)
        cands += [_summary_candidate(records[c], score, "vector") for c, score in summary_hits if c in records]
        found += [(eid, score, "vector") for eid, score in entity_hits]
    cands += _entity_candidates(snap, found)
    if "recency" in activations:
        cands += _recency_activation(window, at, recency)
    if "cast" in activations:
        cands += _cast_candidate(snap, {c.entity_id for c in cands if c.entity_id}, last.chapter)
    book, keys = _lorebook_candidates(snap, last.text, last.chapter)
    return _give_way(snap, dedupe(_merge(cands + book), at, dup_threshold), keys)


def build_prompt(
    snap: StorySnapshot,
    *,
    budget: int,
    count_tokens: Callable[[str], int],
    template: Template | None = None,
    chapter: int | None = None,
    k: int = 8,
    activations: frozenset[str] = ACTIVATIONS,
) -> AssembledPrompt:
    """The prompt that precedes chunk ``snap.at + 1``, within ``budget`` tokens.

    ``snap`` is the story as known after its last chunk already written
    (``story.at(-1)``: nothing written yet, so no last chunk and no memories: outline
    and cue only). ``chapter`` selects the outline part (default: the chapter of the
    last chunk, or the first part before the first chunk). Used by the dataset
    export, generation, ask and compare. Raises BudgetError when the fixed parts
    cannot fit."""
    t0 = time.perf_counter()
    at = snap.at
    window = snap.window(RECENCY)
    last = window.get(at)
    if chapter is None and last is not None:
        chapter = last.chapter
    part = snap.outline_part(chapter)
    candidates = gather_candidates(snap, k=k, outline_part=part.text, activations=activations)
    t1 = time.perf_counter()
    prompt = assemble(
        template or load_template(),
        snap.outline,
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
