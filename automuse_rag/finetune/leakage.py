"""The dataset export's leakage audit: does a prompt built as of chunk ``at`` show
anything a reader could not know by then?

:class:`Truth` reads what a story holds once, with no as-of filter, and derives each
position's allowed memories by itself, without trusting the store's or retrieval's
as-of code; :func:`audit_leakage` lists a prompt's violations ([] when clean): a
decision whose source chunk is later than ``at``, a lore line that is not an as-of
card of the entities shown, a cast line naming someone unknown then, a memory line
first written after ``at``.
"""

from __future__ import annotations

from bisect import bisect_right

from automuse_rag.assemble.assembler import AssembledPrompt, bullet
from automuse_rag.assemble.cards import card_with_links, with_facts
from automuse_rag.assemble.retrieve import CAST_HEAD, first_sentence
from automuse_rag.assemble.templates import Template
from automuse_rag.lore.continuity import KnownFact
from automuse_rag.lore.entity import Entity
from automuse_rag.memory.api import AnalysedStory, StoryView
from automuse_rag.memory.facts import first_statements, in_force, resolved, stated_facts
from automuse_rag.memory.oracle import NaiveLore
from automuse_rag.memory.types import Edges


class CoMentions:
    """Each entity's co-occurrences as the fold reads them (other entity -> the chunks
    that name both), carried from one position to the next: the export audits the
    positions in order, and re-reading every chunk of a main character at each one made
    the audit grow with the story. While an entity keeps its names and every name read
    so far its owner, the answer at ``at`` is the last one grown by the chunks read since
    (names first met there are read with their owners now); else it is read afresh, as
    :meth:`NaiveLore.edges` reads it. It uses the fold's own rows only, never the
    store's."""

    def __init__(self, naive: NaiveLore) -> None:
        self.naive = naive
        self._chunks = {name: [c for c, *_ in rows] for name, rows in naive.facts.items()}  # in chunk order
        # eid -> (position, its names, each name read -> its owner then, the answer)
        self._kept: dict[str, tuple[int, tuple[str, ...], dict[str, str | None], dict[str, list[int]]]] = {}

    def of(self, eid: str, at: int) -> dict[str, list[int]]:
        """The lists are kept and grown: callers copy them."""
        names, ent = self.naive.name_map(at), self.naive.states(at).get(eid)
        if ent is None:
            return {}
        members = tuple(sorted(ent.members))
        kept = self._kept.get(eid)
        if kept is not None and kept[0] <= at and kept[1] == members and all(names.get(n) == o for n, o in kept[2].items()):
            after, read, out = kept[0], kept[2], kept[3]
        else:
            after, read, out = -1, {}, {}
        lists = [self._chunks.get(m, []) for m in members]
        new = sorted({c for cs in lists for c in cs[bisect_right(cs, after) : bisect_right(cs, at)]})
        for c in new:
            for name in self.naive.chunk_names.get(c, []):
                other = read[name] = names.get(name)
                if other and other != eid:
                    got = out.setdefault(other, [])
                    if not got or got[-1] != c:
                        got.append(c)
        self._kept[eid] = (at, members, read, out)
        return out


class Truth:
    """What a story holds, read once with no as-of filter, from which the audit derives
    each position's allowed memories by itself, without trusting the store's or
    retrieval's as-of code: for a store with analyses, its own fold of them
    (:class:`~automuse_rag.memory.oracle.NaiveLore`); for a double built from entity
    histories, ``Entity.at`` and the edges' chunk lists."""

    def __init__(self, story: StoryView) -> None:
        self.story = story
        whole = story.latest()
        self.records = whole.records()
        analysed = story if isinstance(story, AnalysedStory) else None
        analyses = analysed.analyses() if analysed else []
        self.naive = NaiveLore(analyses, "fold", analysed.corrections() if analysed else ()) if analyses else None
        self._co = CoMentions(self.naive) if self.naive is not None else None
        if self.naive is None:
            self.entities = {e.id: e for e in whole.entities()}
            self.graph = whole.graph()
        first: dict[str, int] = {}
        for rec in self.records:
            for line in (bullet(rec.summary), bullet(first_sentence(rec.summary))):
                first.setdefault(line, rec.index)
        self._memory_first = first
        self._names: tuple[int, set[str]] = (-2, set())
        self._seen: tuple[int, dict[str, Entity | None]] = (-2, {})
        self._known_facts: tuple[int, dict[str, list[KnownFact]]] = (-2, {})
        # every chunk's stated facts, derived once (a position takes those of chunks <= it)
        stated = [f for idx, a in self.naive.analyses for f in stated_facts(idx, a)] if self.naive else []
        self._stated = first_statements(stated, lambda f: (f.name, f.kind, f.value))
        self._stated_upto = [f.chunk for f in self._stated]

    def _edges(self, eid: str, at: int) -> Edges:
        if self.naive is not None and self._co is not None:
            return self.naive.edges(eid, at, co=self._co.of(eid, at))
        out: Edges = {}
        for other, data in self.graph[eid].items() if eid in self.graph else []:
            chunks = [c for c in data.get("chunks", []) if c <= at]
            view = self.entities[other].at(at) if other in self.entities else None
            if chunks and view is not None:
                rels = [r for r in data.get("relations", []) if r["chunk"] <= at]
                out[other] = {"chunks": chunks, "weight": len(chunks), "relations": rels}
        return out

    def _view(self, eid: str, at: int) -> Entity | None:
        if self._seen[0] != at:  # one position's views, read once each (cards share neighbours)
            self._seen = (at, {})
        memo = self._seen[1]
        if eid not in memo:
            if self.naive is not None:
                got = self.naive.entities(at, [eid])
                memo[eid] = got[0] if got else None
            else:
                ent = self.entities.get(eid)
                memo[eid] = ent.at(at) if ent is not None else None
        return memo[eid]

    def lore_allowed(self, at: int, ids: set[str]) -> set[str]:
        """The lore bullets a prompt as of ``at`` may show for entities ``ids``: their
        as-of cards (full, with links, and one-line)."""
        out: set[str] = set()
        for eid in ids:
            view = self._view(eid, at)
            if view is None:
                continue
            edges = self._edges(eid, at)
            if self.naive is not None:
                known = self.naive.known(at)
                names = {o: known[o] for o in edges if o in known}
            else:
                names = {o: v.name for o in edges if (v := self._view(o, at)) is not None}
            facts = self._facts(eid, at)
            out |= {
                bullet(card_with_links(view, edges, names, facts=facts)),
                bullet(with_facts(view.one_line(), view.name, facts)),
            }
        return out

    def _facts(self, eid: str, at: int) -> list[KnownFact]:
        """The entity's facts in force as of ``at``: for a store with analyses, derived
        from them and the fold's names (memory/facts.py's rule); for a double, its own."""
        if self.naive is None:
            return self.story.at(at).facts([eid])
        if self._known_facts[0] != at:  # one position's facts, derived once
            names = self.naive.name_map(at)
            display = {e: ent.name for e, ent in self.naive.states(at).items()}
            stated = self._stated[: bisect_right(self._stated_upto, at)]
            by_entity: dict[str, list[KnownFact]] = {}
            for k in in_force(resolved(stated, names, display)):
                by_entity.setdefault(k.entity, []).append(k)
            self._known_facts = (at, by_entity)
        return list(self._known_facts[1].get(eid, ()))

    def names_known(self, at: int) -> set[str]:
        """The names entities go by as of ``at`` (what a cast line may list)."""
        if self._names[0] != at:
            if self.naive is not None:
                names = set(self.naive.known(at).values())
            else:
                names = {v.name for e in self.entities.values() if (v := e.at(at)) is not None}
            self._names = (at, names)
        return self._names[1]

    def memory_allowed(self, line: str, at: int) -> bool:
        return self._memory_first.get(line, at + 1) <= at


def _section_bullets(prompt: AssembledPrompt, template: Template, section: str) -> list[str]:
    text = prompt.sections.get(section, "")
    spec = template.section(section)
    if not text or spec is None:
        return []
    head, foot = spec.frame()
    body = text[len(head) : len(text) - len(foot) if foot else None]
    return [line for line in body.split("\n") if line]


def audit_leakage(truth: Truth, at: int, prompt: AssembledPrompt, template: Template) -> list[str]:
    """Violations of the as-of rule in a prompt built as of ``at`` ([] when clean)."""
    leaks = [
        f"{d.candidate_id} comes from chunk {d.chunk} > {at}" for d in prompt.decisions if d.fate != "dropped" and d.chunk > at
    ]
    if at < 0:
        lines = _section_bullets(prompt, template, "lore") + _section_bullets(prompt, template, "memories")
        return leaks + [f"line shown before the story began: {line[:60]!r}" for line in lines]
    ids = {
        d.candidate_id.removeprefix("entity:")
        for d in prompt.decisions
        if d.candidate_id.startswith("entity:") and d.fate != "dropped"
    }
    lore_ok = truth.lore_allowed(at, ids)
    cast_head = bullet(CAST_HEAD).rstrip()
    for line in _section_bullets(prompt, template, "lore"):
        if line.startswith(cast_head) and line.endswith("."):
            names = line[len(cast_head) :].strip().removesuffix(".").split("; ")
            unknown = [n for n in names if n not in truth.names_known(at)]
            if unknown:
                leaks.append(f"cast line names {unknown[0]!r}, unknown as of chunk {at}")
        elif line not in lore_ok:
            leaks.append(f"lore line is not known as of chunk {at}: {line[:60]!r}")
    for line in _section_bullets(prompt, template, "memories"):
        if not truth.memory_allowed(line, at):
            leaks.append(f"memories line is not known as of chunk {at}: {line[:60]!r}")
    return leaks
