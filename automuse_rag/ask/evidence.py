"""Evidence for a question, retrieved as of chunk ``at`` with the prompt's own activations.

Two sources, both read through the snapshot of chunk ``at``, so limited to chunks ``0..at``:

* :func:`automuse_rag.assemble.gather_candidates` (names in the last chunk, their
  graph neighbours, vectors and recency: exactly what a prompt for chunk ``at + 1``
  would consider), with the question appended to its vector query;
* the question itself: entities it names (by any name or alias known at ``at``, or a
  word of one), their lore cards, their graph neighbours, the memories that name
  them (the first and the latest few), and ``snap.search(question)``.

The snapshot reads nothing beyond ``at``, so an answer at ``at`` can never cite the future.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from automuse_rag.assemble.cards import linked_card
from automuse_rag.assemble.retrieve import ACTIVATIONS, gather_candidates, merge_by_id, neighbour_scores
from automuse_rag.lore.entity import Entity
from automuse_rag.memory.snapshot import StorySnapshot
from automuse_rag.memory.types import ChunkRecord
from automuse_rag.models.extractive import STOPWORDS, split_sentences

_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?", re.UNICODE)
#: Words of a question that say nothing about its subject.
QUESTION_WORDS = frozenset(
    [
        "tell",
        "know",
        "story",
        "anything",
        "anyone",
        "someone",
        "something",
        "happen",
        "happens",
        "happened",
        "happening",
        "doing",
        "does",
        "did",
        "done",
        "go",
        "goes",
        "going",
        "get",
        "gets",
        "got",
        "give",
        "gave",
        "kind",
        "sort",
        "like",
        "much",
        "many",
        "ever",
        "still",
        "yet",
        "also",
        "really",
        "mean",
        "means",
        "meant",
        "first",
        "last",
        "chapter",
        "chunk",
        "name",
        "named",
        "called",
    ]
)
#: Titles that are part of names but identify no one on their own.
TITLES = frozenset({"mr", "mrs", "miss", "ms", "dr", "captain", "sir", "lady", "lord", "the", "of"})
#: How many memories naming an asked-about entity are used (the first plus the latest).
NAMED_MEMORIES = 4
#: Shorter summary sentences ("What grant?") answer nothing on their own.
MIN_SENTENCE_WORDS = 4


@dataclass(frozen=True)
class Evidence:
    """One retrieved memory (chunk summary) or lore card, as known at ``at``.

    ``sentences`` are its parts an answer may quote: a summary's sentences, or a
    card's head (name, kind, aliases), descriptions and links."""

    id: str
    kind: str  # "summary" | "entity"
    chunk: int
    chapter: int
    text: str
    score: float
    sources: tuple[str, ...]
    sentences: tuple[str, ...]

    @property
    def cite(self) -> str:
        return f"[chunk {self.chunk}, chapter {self.chapter}]"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "chunk": self.chunk,
            "chapter": self.chapter,
            "text": self.text,
            "score": round(self.score, 4),
            "sources": list(self.sources),
        }


def stem(word: str) -> str:
    """A crude, symmetric stem: lower case, no possessive, a plural ``s`` off, six letters at most."""
    w = word.lower().replace("’", "'")
    w = w.removesuffix("'s")
    if len(w) > 3 and w.endswith("s") and not w.endswith("ss"):
        w = w[:-1]
    return w[:6]


def content_words(text: str) -> list[str]:
    """The words of ``text`` that carry meaning (no stop words, no question words)."""
    out = []
    for w in _WORD.findall(text):
        low = w.lower().replace("’", "'").removesuffix("'s")
        if len(low) > 2 and low not in STOPWORDS and low not in QUESTION_WORDS:
            out.append(w)
    return out


def question_names(question: str, known_text: str = "") -> set[str]:
    """Capitalised content words of the question (lower-cased): names the answer must
    mention. The question's first word counts only if ``known_text`` (the evidence)
    has it capitalised too: "Describe the island" names no one, "Blackwood, who is
    he?" does once Blackwood is known."""
    words = _WORD.findall(question)
    first = words[0] if words else ""
    out = set()
    for w in content_words(question):
        if not w[:1].isupper() or w.lower() in TITLES:
            continue
        if w == first and question.lstrip().startswith(w) and not re.search(rf"(?<!\w){re.escape(w)}(?!\w)", known_text):
            continue
        out.add(w.lower().replace("’", "'").removesuffix("'s"))
    return out


def _name_pattern(names: list[str]) -> re.Pattern[str] | None:
    names = sorted({n for n in names if len(n) >= 2}, key=lambda n: (-len(n), n))
    if not names:
        return None
    return re.compile(r"(?<!\w)(?:" + "|".join(re.escape(n) for n in names) + r")(?!\w)", re.IGNORECASE)


def entities_in_question(question: str, entities: list[Entity]) -> list[Entity]:
    """Entities the question names: a full name or alias, or a distinctive word of one
    ("Blackwood" for "Arthur Blackwood"; not a title like "Mr."), case-insensitively."""
    found = []
    words = {w.lower() for w in _WORD.findall(question)}
    for ent in entities:
        pattern = _name_pattern(ent.names())
        if pattern is not None and pattern.search(question):
            found.append(ent)
            continue
        parts = {p.lower().strip(".") for n in ent.names() for p in n.split()}
        if any(len(p) >= 3 and p not in TITLES and p in words for p in parts):
            found.append(ent)
    return found


def card_sentences(ent: Entity, links: str = "") -> tuple[str, ...]:
    """The quotable parts of a lore card: its head (name, kind, aliases) with the latest
    description, the earlier distinct descriptions, and its labelled links."""
    others = [a for a in ent.names() if a != ent.name]
    head = f"{ent.name} ({ent.kind}" + (f"; also called {', '.join(others)}" if others else "") + ")"
    descs: list[str] = []
    for _, d in reversed(ent.descriptions[-3:]):
        d = " ".join(d.split())
        if len(d.split()) >= MIN_SENTENCE_WORDS and d not in descs:
            descs.append(d)
    first = f"{head}: {descs[0]}" if descs else head + "."
    labelled = [links] if "(" in links else []
    return (first, *descs[1:], *labelled)


def _links(card: str) -> str:
    _, sep, tail = card.partition(" Links: ")
    return ("Links: " + tail) if sep else ""


def _evidence_from_card(ent: Entity, card: str, chapters: dict[int, int], score: float, source: str) -> Evidence:
    chunk = ent.last_described
    return Evidence(
        f"entity:{ent.id}", "entity", chunk, chapters.get(chunk, 0), card, score, (source,), card_sentences(ent, _links(card))
    )


def _evidence_from_record(rec: ChunkRecord, score: float, source: str) -> Evidence:
    sentences = tuple(s for s in split_sentences(rec.summary) if len(s.split()) >= MIN_SENTENCE_WORDS)
    return Evidence(f"summary:{rec.index}", "summary", rec.index, rec.chapter, rec.summary, score, (source,), sentences)


def retrieve_evidence(
    snap: StorySnapshot,
    question: str,
    *,
    k: int = 8,
    activations: frozenset[str] = ACTIVATIONS,
) -> list[Evidence]:
    """Memories and lore cards for ``question`` as known at the snapshot, best first.
    A snapshot before the first chunk gives []."""
    if snap.empty:
        return []
    views = {e.id: e for e in snap.entities()}
    found: list[Evidence] = []

    def card(ent: Entity, score: float, source: str) -> Evidence:
        chunk = ent.last_described
        return _evidence_from_card(ent, linked_card(snap, ent), snap.chapters([chunk]), score, source)

    def record(index: int, score: float, source: str) -> None:
        rec = snap.records_at([index]).get(index)
        if rec is not None:
            found.append(_evidence_from_record(rec, score, source))

    # 1. The prompt's own activations, with the question added to the vector query.
    for cand in gather_candidates(snap, k=k, outline_part=question, activations=activations):
        source = "prompt:" + "+".join(cand.sources)
        if cand.kind == "entity" and cand.entity_id in views:
            ent = views[cand.entity_id]
            found.append(_evidence_from_card(ent, cand.text, snap.chapters([ent.last_described]), cand.score, source))
        elif cand.kind == "summary":
            record(cand.chunk, cand.score, source)

    # 2. Entities the question names, their neighbours and the memories naming them.
    asked = entities_in_question(question, list(views.values())) if "names" in activations else []
    for ent in asked:
        found.append(card(ent, 1.0, "question:names"))
        if "graph" in activations:
            for other, score, source in neighbour_scores(snap, [ent.id], 3, "question:graph"):
                if other in views:
                    found.append(card(views[other], score, source))
        pattern = _name_pattern(ent.names())
        mentioned = snap.records_at(ent.mentions)
        naming = [r for _, r in sorted(mentioned.items()) if pattern is not None and pattern.search(r.summary)]
        for rec in dict.fromkeys(naming[:1] + naming[-(NAMED_MEMORIES - 1) :]):
            found.append(_evidence_from_record(rec, 0.8, "question:names"))

    # 3. Vector search with the question itself.
    if "vector" in activations:
        for hit in snap.search(question, k=k, kinds=("summary", "entity")):
            if hit.kind == "entity":
                hit_ent = views.get(str(hit.metadata.get("entity_id", hit.id.removeprefix("entity:"))))
                if hit_ent is not None:
                    found.append(card(hit_ent, float(hit.score), "question:vector"))
            elif hit.kind == "summary":
                record(hit.chunk, float(hit.score), "question:vector")

    return sorted(merge_by_id(found), key=lambda e: (-e.score, e.chunk, e.id))
