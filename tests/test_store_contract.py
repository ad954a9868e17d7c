"""One contract for every StoryView: the naive in-memory story
(:meth:`InMemoryStory.from_analyses`), the store with embedded Chroma and the store on
a ``chroma run`` server answer every read the same way, at every position.

The story is the sample story analysed for real (spaCy NER and parse, extractive
summaries): real names, nicknames, relations and descriptions.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import SAMPLE_DIR
from hypothesis import given, settings, strategies as st
from servers import free_port, start_chroma

from automuse_rag.books import load_book
from automuse_rag.errors import InputError
from automuse_rag.lore.facts import Fact
from automuse_rag.memory.facts import first_statements, in_force, resolved
from automuse_rag.memory.inmemory import InMemoryStory
from automuse_rag.memory.locking import StoryLock
from automuse_rag.memory.snapshot import PositionError
from automuse_rag.memory.story import StoryMemory
from automuse_rag.memory.types import ChunkRecord, OutlinePart
from automuse_rag.models.fake import HashEmbedder
from automuse_rag.settings import get_settings
from automuse_rag.text.chunk import chunk_book

QUERIES = ("who owns Hollin Island?", "the storm and the boat", "Edith and the letter")


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    from automuse_rag.lore.extract import analyze_chunk
    from automuse_rag.lore.ner import get_nlp

    cfg = get_settings(home=tmp_path_factory.mktemp("contract"))
    chunks = chunk_book(load_book(str(SAMPLE_DIR / "story.txt"), cfg), "contract", size=1500)
    nlp = get_nlp()
    return [(c, _with_facts(c.index, analyze_chunk(c, None, nlp))) for c in chunks]


def _with_facts(idx: int, analysis):
    """The analysis plus state facts written in on the names the chunk mentions, so the
    facts reads have work at every position: deaths, eye colours that change and are
    restated, kin that accumulate, places (names that later join an entity, such as
    "Edith" and "Miss Marlowe", carry facts before and after they do)."""
    names = sorted({m.name for m in analysis.mentions})
    for j, name in enumerate(names[:4]):
        kind = ("dead", "eyes", "kin", "place", "eyes")[(idx + j) % 5]
        value = {
            "dead": "dead",
            "eyes": ("blue", "grey")[(idx // 4) % 2],
            "kin": f"sister:{names[-1 - j]}",
            "place": ("Port Carrow", "Hollin Island", "the quay")[idx % 3],
        }[kind]
        analysis.facts.append({"kind": kind, "name": name, "value": value, "sentence": f"{name} {kind} {value} at {idx}."})
    return analysis


def _outline(analysed) -> tuple[str, list[OutlinePart]]:
    """An outline with a part for every other chapter (so some chapters fall back to
    the part before them, and the first chapter's part is asked for by ``None``)."""
    chapters = sorted({c.chapter for c, _ in analysed})
    parts = [OutlinePart(ch, f"CHAPTER {ch}", f"Chapter {ch}: Edith follows the trail.") for ch in chapters[::2]]
    return "\n".join(p.text for p in parts), parts


def _records(analysed) -> list[tuple[ChunkRecord, object]]:
    return [(ChunkRecord(c.index, c.id, c.chapter, c.chapter_title, c.text, a.summary), a) for c, a in analysed]


def _stored(home: Path, analysed, url: str | None) -> StoryMemory:
    cfg = get_settings(home=home)
    emb = HashEmbedder(32)
    with StoryLock(cfg.stores_dir / "contract", "contract"):
        mem = StoryMemory.create(cfg, "contract", embedder=emb, llm_name="extractive", source="sample", chroma_url=url)
        for start in range(0, len(analysed), 7):  # batches, as ingest commits them
            mem.commit_chunks(analysed[start : start + 7])
        mem.set_outline(*_outline(analysed))
        mem.close()
    return StoryMemory.open(cfg, "contract", emb)


@pytest.fixture(scope="module", params=["naive", "embedded", "server"])
def story(request, analysed, tmp_path_factory):
    if request.param == "naive":
        text, parts = _outline(analysed)
        yield InMemoryStory.from_analyses("contract", _records(analysed), HashEmbedder(32), outline=text, parts=parts)
        return
    home = tmp_path_factory.mktemp(request.param)
    if request.param == "embedded":
        mem = _stored(home, analysed, None)
        yield mem
        mem.close()
        return
    url = f"http://127.0.0.1:{free_port()}"
    proc = start_chroma(url, home / "server")
    try:
        mem = _stored(home, analysed, url)
        yield mem
        mem.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(scope="module")
def reference(analysed):
    text, parts = _outline(analysed)
    return InMemoryStory.from_analyses("contract", _records(analysed), HashEmbedder(32), mode="fold", outline=text, parts=parts)


def _edges(g) -> list[tuple[str, str, list[int], int, list]]:
    return sorted((min(a, b), max(a, b), d["chunks"], d["weight"], d["relations"]) for a, b, d in g.edges(data=True))


def _hits(hits) -> list[tuple]:
    return [(x.id, x.kind, x.chunk, x.chapter, round(x.score, 4), x.text, x.metadata.get("entity_id")) for x in hits]


def test_every_read_agrees_at_every_position(story, reference) -> None:
    n = len(reference)
    last = n - 1
    assert len(story) == n and story.last_index() == last == reference.last_index()
    assert story.outline == reference.outline and story.outline_parts() == reference.outline_parts()
    assert story.latest().at == last
    chapters = sorted({r.chapter for r in reference.latest().records()})
    all_ids = [e.id for e in reference.latest().entities()]
    for at in range(-1, n):
        got, want = story.at(at), reference.at(at)
        assert (got.at, got.name, got.last, got.empty) == (at, "contract", last, at < 0)
        assert got.records() == want.records(), at
        assert [r.index for r in want.records()] == list(range(at + 1))
        window = range(max(0, at - 3), at + 2)  # one past the position: never returned
        assert got.records_at(window) == want.records_at(window), at
        assert got.chapters([0, at, at + 1]) == want.chapters([0, at, at + 1]), at
        ents = want.entities()
        ids = [e.id for e in ents]
        assert [e.to_dict() for e in got.entities()] == [e.to_dict() for e in ents], at
        # by ids: some known now, some only later (left out), asked in a scrambled order
        asked = ids[:3][::-1] + [e for e in all_ids if e not in ids][:2]
        assert got.entities(asked) == want.entities(asked), at
        assert got.names(ids + all_ids) == want.names(ids + all_ids), at
        assert got.names(ids) == {e.id: e.name for e in ents}, at
        text = reference.latest().records_at([max(at, 0)])[max(at, 0)].text
        assert got.named_in(text) == want.named_in(text), at
        assert got.neighbours(ids) == want.neighbours(ids), at
        for window_size in (1, 5, 30):
            assert got.active(window_size, 5) == want.active(window_size, 5), (at, window_size)
        assert got.relations() == want.relations(), at
        facts = want.facts()
        assert got.facts() == facts, at
        assert got.facts(asked) == want.facts(asked) == [k for k in facts if k.entity in asked], at
        assert all(k.fact.chunk <= at and k.entity in ids for k in facts), at
        assert at < 5 or {"dead", "eyes", "kin", "place"} <= {k.fact.kind for k in facts}, at
        g, h = got.graph(), want.graph()
        assert sorted(g.nodes(data=True)) == sorted(h.nodes(data=True)), at
        assert _edges(g) == _edges(h), at
        assert got.outline == want.outline == reference.outline
        for chapter in (None, *chapters, chapters[-1] + 1):
            assert got.outline_part(chapter) == want.outline_part(chapter), (at, chapter)
        if at % 5 == 0 or at in (-1, last):
            for q in QUERIES:
                assert _hits(got.search(q, k=6)) == _hits(want.search(q, k=6)), (at, q)
                for kinds in (("summary",), ("entity",)):
                    assert _hits(got.search(q, k=4, kinds=kinds)) == _hits(want.search(q, k=4, kinds=kinds)), (at, q, kinds)


def test_a_position_outside_the_story_is_one_error(story) -> None:
    last = story.last_index()
    for bad in (last + 1, -2):
        with pytest.raises(PositionError) as info:
            story.at(bad)
        assert str(info.value) == (
            f"position {bad} is outside story 'contract', which has chunks 0..{last} (use -1 for before the first)"
        )
        assert isinstance(info.value, InputError)


def test_the_sample_cast_is_resolved_with_its_nicknames_and_relations(reference) -> None:
    """The reference itself is right about the sample story's cast (books/sample/lore.toml)."""
    names = {e.name: e for e in reference.latest().entities()}
    assert {"Edith Marlowe", "Thomas Reddick", "Samuel Greaves", "Walter Pennock"} <= set(names)
    assert {"Edith", "Miss Marlowe"} <= set(names["Edith Marlowe"].aliases)
    assert "Mr. Pennock" in names["Walter Pennock"].aliases and "Mrs. Pennock" not in names["Walter Pennock"].aliases


def test_facts_stated_by_any_name_reach_the_entity_and_later_values_replace_earlier(reference) -> None:
    """A fact given under "Edith" or "Miss Marlowe" is Edith Marlowe's once they are one
    entity; her first eye colour stays (a fixed kind); a place stated again keeps its
    first statement, another replaces it."""
    latest = reference.latest()
    edith = next(e for e in latest.entities() if e.name == "Edith Marlowe")
    facts = latest.facts([edith.id])
    assert {k.display for k in facts} == {"Edith Marlowe"}
    assert {k.fact.name for k in facts} - {"Edith Marlowe"}, "no fact given under another name reached her"

    def stated(kind: str) -> list[tuple[int, str]]:
        return [
            (i, f["value"]) for i, a in reference.analyses() for f in a.facts if f["name"] in edith.aliases and f["kind"] == kind
        ]

    eyes = [(k.fact.chunk, k.fact.value) for k in facts if k.fact.kind == "eyes"]
    assert len({v for _, v in stated("eyes")}) > 1, "the test needs a changed eye colour"
    assert eyes == stated("eyes")[:1]
    places = stated("place")
    assert len({v for _, v in places}) > 1, "the test needs a changed place"
    start = max(i for i, (_, v) in enumerate(places) if v != places[-1][1]) + 1
    assert [(k.fact.chunk, k.fact.value) for k in facts if k.fact.kind == "place"] == [places[start]]
    assert all(k.fact.chunk <= 10 for k in reference.at(10).facts())


KINDS_DRAWN = ("dead", "eyes", "gender", "kin", "place", "age", "married_name")


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from(("Edith", "Miss Marlowe", "Edith Marlowe", "Tom", "Mr. Hale")),
            st.sampled_from(KINDS_DRAWN),
            st.sampled_from(("blue", "grey", "f", "sister:Tom", "Port Carrow")),
        ),
        max_size=40,
    ),
    owners=st.dictionaries(
        st.sampled_from(("Edith", "Miss Marlowe", "Edith Marlowe", "Tom", "Mr. Hale")), st.sampled_from(("e1", "e2"))
    ),
    cut=st.integers(0, 40),
)
def test_dropping_restated_facts_before_resolving_keeps_what_is_in_force(rows, owners, cut) -> None:
    """The store reads only each name's first statement of a fixed kind (memory/facts.py
    ``first_statements``): whatever entities the names make up, and at whatever chunk
    the story is cut, what is in force is what all the rows give."""
    facts = [Fact(kind=k, name=n, value=v, sentence=f"{n} {k} {v}.", chunk=i // 2) for i, (n, k, v) in enumerate(rows)]
    facts = [f for f in facts if f.chunk <= cut]
    display = {"e1": "Edith Marlowe", "e2": "Tom Hale"}

    def fields(f: Fact) -> tuple[str, str, str]:
        return (f.name, f.kind, f.value)

    whole = in_force(resolved(facts, owners, display))
    assert in_force(resolved(first_statements(facts, fields), owners, display)) == whole
    kept = first_statements([f for f in facts], fields)
    assert len(kept) <= len(facts) and all(f in facts for f in kept)
