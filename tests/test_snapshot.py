"""StorySnapshot: ``story.at(i)`` is the story as known after chunk ``i`` and nothing
later (records, entities, names, edges, hits), it is frozen, its one position error
reads the same for every bad position, and it reads what one task asks twice only once."""

from __future__ import annotations

import dataclasses
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from automuse_rag.errors import InputError
from automuse_rag.lore.entity import Entity, Relation
from automuse_rag.lore.facts import Fact
from automuse_rag.memory.inmemory import InMemoryStory
from automuse_rag.memory.snapshot import PositionError, StorySnapshot, check_position
from automuse_rag.memory.types import ChunkRecord, OutlinePart
from automuse_rag.models.fake import HashEmbedder

N = 8
LAST = N - 1
CHAPTERS = [1, 1, 1, 2, 2, 2, 3, 3]


def mark(i: int) -> str:
    """The token that everything first known at chunk ``i`` carries."""
    return f"Qz{i}q"


def _records() -> list[ChunkRecord]:
    return [
        ChunkRecord(
            i,
            f"s:{i}",
            CHAPTERS[i],
            f"CHAPTER {CHAPTERS[i]}",
            f"Edith Marlowe and Reddick walked to Port Carrow in part {i} {mark(i)}. Old Tam watched.",
            f"In part {i} Edith and Reddick talk at the harbour {mark(i)}.",
        )
        for i in range(N)
    ]


def _entities() -> list[Entity]:
    return [
        Entity(
            "edith",
            "Edith Marlowe",
            "character",
            {"Edith Marlowe": 0, "Edith": 0, f"Miss {mark(4)}": 4},
            list(range(N)),
            [(0, f"a schoolmistress {mark(0)}"), (5, f"the heir to the grant {mark(5)}")],
            relations=[(5, f"Edith Marlowe goddaughter {mark(5)} of Thomas Reddick")],
        ),
        Entity(
            "reddick",
            "Thomas Reddick",
            "character",
            {"Thomas Reddick": 0, "Reddick": 1, f"Captain {mark(6)}": 6},
            [0, 1, 3, 6, 7],
            [(0, f"a retired keeper {mark(0)}")],
        ),
        Entity("hermit", "Old Tam", "character", {"Old Tam": 2}, [2], [(2, f"a hermit {mark(2)}")]),
        Entity(
            "greaves",
            "Samuel Greaves",
            "character",
            {"Samuel Greaves": 3},
            [3, 6],
            [(3, f"the town doctor {mark(3)}"), (6, f"keeper of the key {mark(6)}")],
        ),
        Entity("carrow", "Port Carrow", "place", {"Port Carrow": 0}, [0, 4, 7], [(0, f"a harbour town {mark(0)}")]),
    ]


RELATIONS = [
    Relation("edith", "reddick", f"goddaughter {mark(5)} of", 5),
    Relation("hermit", "reddick", f"friend {mark(6)} of", 6),
]
PARTS = [OutlinePart(1, "CHAPTER 1", "Chapter 1: Edith arrives."), OutlinePart(3, "CHAPTER 3", "Chapter 3: the grant.")]
ALL_IDS = [e.id for e in _entities()]
EVERY_NAME = "; ".join(n for e in _entities() for n in e.names())
QUERIES = ("the harbour and the keeper", "Edith and the grant", f"doctor {mark(6)}")


FACTS = [
    Fact("eyes", "Reddick", "blue", f"Reddick had blue eyes {mark(1)}.", 1),
    Fact("dead", "Old Tam", "dead", f"Old Tam is dead {mark(3)}.", 3),
    Fact("place", f"Miss {mark(4)}", f"Port Carrow {mark(4)}", f"Miss {mark(4)} stayed at Port Carrow.", 4),
    Fact("eyes", "Thomas Reddick", "grey", f"Thomas Reddick's grey eyes {mark(6)}.", 6),
    Fact("kin", "Samuel Greaves", f"brother:Old Tam {mark(6)}", f"Samuel Greaves, brother of Old Tam {mark(6)}.", 6),
    Fact("place", "Edith", f"Hollin Island {mark(7)}", f"Edith crossed to Hollin Island {mark(7)}.", 7),
]


def small_story(cls: type[InMemoryStory] = InMemoryStory) -> InMemoryStory:
    story = cls(
        "small",
        _records(),
        _entities(),
        HashEmbedder(32),
        relations=RELATIONS,
        outline="\n".join(p.text for p in PARTS),
        parts=PARTS,
    )
    story.stated = list(FACTS)
    return story


STORY = small_story()


def _no_future(text: str, at: int) -> bool:
    return not any(mark(j) in text for j in range(at + 1, N))


def _known(at: int) -> set[str]:
    return {e.id for e in _entities() if e.first_chunk <= at}


# -- nothing after the snapshot's chunk ------------------------------------------------


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    at=st.integers(-1, LAST),
    ids=st.lists(st.sampled_from([*ALL_IDS, "nobody"]), max_size=6),
    indices=st.lists(st.integers(-3, N + 3), max_size=10),
    query=st.sampled_from(QUERIES),
    window=st.integers(1, N + 1),
)
def test_a_snapshot_returns_nothing_from_after_its_chunk(at, ids, indices, query, window) -> None:
    snap = STORY.at(at)
    assert (snap.at, snap.last, snap.name, snap.empty) == (at, LAST, "small", at < 0)
    known = _known(at)

    records = snap.records()
    assert [r.index for r in records] == list(range(at + 1))
    assert all(_no_future(r.text + r.summary, at) for r in records)
    got = snap.records_at(indices)
    assert set(got) == {i for i in indices if 0 <= i <= at}
    assert all(got[i] == records[i] for i in got)
    assert snap.chapters(indices) == {i: CHAPTERS[i] for i in indices if 0 <= i <= at}
    assert set(snap.window(2)) == set(range(max(0, at - 2), at + 1))

    ents = snap.entities()
    assert {e.id for e in ents} == known
    for e in ents:
        assert max(e.mentions) <= at and all(c <= at for c in e.aliases.values())
        assert all(c <= at for c, _ in e.descriptions) and all(c <= at for c, _ in e.relations)
        assert _no_future(e.card(), at) and _no_future(" ".join(e.names()), at)
    asked = snap.entities(ids)
    assert {e.id for e in asked} == known & set(ids)
    assert asked == [e for e in ents if e.id in set(ids)]  # the same views, most mentioned first
    assert snap.names(ids) == {e.id: e.name for e in ents if e.id in set(ids)}
    assert _no_future(" ".join(snap.names(ALL_IDS).values()), at)

    named = snap.named_in(EVERY_NAME)
    assert set(named) <= known
    assert snap.named_in(f"Miss {mark(4)} smiled.") == ({"edith": 1} if at >= 4 else {})  # an alias of chunk 4

    edges = snap.neighbours(ids)
    assert list(edges) == list(dict.fromkeys(ids))
    for eid, mine in edges.items():
        assert eid in known or mine == {}
        for other, data in mine.items():
            assert other in known and data["chunks"] and max(data["chunks"]) <= at
            assert data["weight"] == len(data["chunks"])
            assert all(r["chunk"] <= at and _no_future(r["label"], at) for r in data["relations"])

    active = snap.active(window, 10)
    assert {eid for eid, _, _ in active} <= known
    for eid, name, count in active:
        chunks = [c for c in next(e for e in ents if e.id == eid).mentions if at - window < c <= at]
        assert count == len(chunks) > 0 and name == snap.names([eid])[eid]

    assert all(r.chunk <= at for r in snap.relations())
    facts = snap.facts()
    assert {k.entity for k in facts} <= known
    for k in facts:
        assert k.fact.chunk <= at and _no_future(f"{k.fact.sentence} {k.fact.value} {k.fact.name} {k.display}", at)
        assert k.display == snap.names([k.entity])[k.entity]
    assert snap.facts(ids) == [k for k in facts if k.entity in set(ids)]
    g = snap.graph()
    assert set(g.nodes) == known
    assert all(max(d["chunks"]) <= at for _, _, d in g.edges(data=True))
    every = snap.neighbours(ALL_IDS)
    assert {(min(a, b), max(a, b)) for a, b in g.edges} == {(min(a, b), max(a, b)) for a in every for b in every[a]}

    hits = snap.search(query, k=50)
    assert all(h.chunk <= at and _no_future(h.text, at) for h in hits)
    assert {h.metadata["entity_id"] for h in hits if h.kind == "entity"} <= known
    if at >= 0:
        assert {h.id for h in hits if h.kind == "summary"} == {f"summary:{i:05d}" for i in range(at + 1)}
    else:
        assert hits == []


@pytest.mark.parametrize("at", range(-1, N))
def test_each_snapshot_knows_exactly_what_was_first_seen_by_then(at: int) -> None:
    """Not only nothing later: everything up to the chunk is there (the entity met at
    chunk 2 from 2 on, the alias of chunk 6 from 6 on, the relation of 5 from 5 on)."""
    snap = STORY.at(at)
    assert ("hermit" in {e.id for e in snap.entities()}) == (at >= 2)
    reddick = snap.names(["reddick"])
    assert reddick == ({"reddick": "Thomas Reddick"} if at >= 0 else {})
    aliases = {a for e in snap.entities(["reddick"]) for a in e.aliases}
    assert (f"Captain {mark(6)}" in aliases) == (at >= 6)
    labels = [r["label"] for r in snap.neighbours(["edith"])["edith"].get("reddick", {}).get("relations", [])]
    assert labels == ([f"goddaughter {mark(5)} of"] if at >= 5 else [])
    eyes = [k.fact.value for k in snap.facts(["reddick"]) if k.fact.kind == "eyes"]
    assert eyes == ([] if at < 1 else ["blue"])  # a fixed kind: the later colour is a contradiction, not news
    places = [k.fact.chunk for k in snap.facts(["edith"]) if k.fact.kind == "place"]
    assert places == ([] if at < 4 else [4] if at < 7 else [7])  # a later place replaces the first
    assert [k.fact.chunk for k in snap.facts(["hermit"])] == ([3] if at >= 3 else [])
    assert [k.display for k in snap.facts(["edith"])] == (["Edith Marlowe"] if at >= 4 else [])  # by an alias of chunk 4
    assert snap.outline_part(None) == PARTS[0] and snap.outline_part(2) == PARTS[0] and snap.outline_part(3) == PARTS[1]


class LeakyReads(InMemoryStory):
    """A broken backend whose records and search ignore the position."""

    def records_at(self, indices):
        return super().records_at(range(N))

    def search(self, vector, k, at, kinds, views=None):
        return super().search(vector, k, LAST, kinds, views)


@pytest.mark.parametrize("at", [0, 3, 6])
def test_a_snapshot_filters_what_a_leaky_backend_returns(at: int) -> None:
    leaky = small_story(LeakyReads)
    assert any(h.chunk > at for h in leaky.search(leaky.embed_query("the harbour"), 50, at, ("summary",)))
    snap = leaky.at(at)
    assert set(snap.records_at(range(N))) == set(range(at + 1))
    hits = snap.search("the harbour", k=50, kinds=("summary",))
    assert hits and all(h.chunk <= at for h in hits)


# -- the handle itself --------------------------------------------------------------


def test_a_snapshot_is_frozen() -> None:
    snap = STORY.at(2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        snap.at = 3  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        snap.reads = STORY  # type: ignore[misc]
    assert snap.at == 2 and [r.index for r in snap.records()] == [0, 1, 2]


def test_one_message_for_every_position_outside_the_story() -> None:
    for bad in (N, N + 50, -2, -100):
        with pytest.raises(PositionError) as info:
            STORY.at(bad)
        assert (
            str(info.value)
            == f"position {bad} is outside story 'small', which has chunks 0..{LAST} (use -1 for before the first)"
        )
        assert isinstance(info.value, InputError)  # the CLI's one-line error
    assert STORY.latest().at == LAST and STORY.at(-1).empty
    with pytest.raises(PositionError, match="is not a chunk index"):
        check_position("small", "three", LAST)  # type: ignore[arg-type]
    empty = InMemoryStory("empty", [], [], HashEmbedder(32))
    assert empty.latest().at == -1 and empty.latest().records() == [] and empty.latest().search("x") == []
    with pytest.raises(PositionError) as info:
        empty.at(0)
    assert str(info.value) == "position 0 is outside story 'empty', which has no chunks yet (use -1 for before the first)"


# -- what a snapshot keeps for its task -----------------------------------------------


class CountingReads(InMemoryStory):
    """The in-memory story, counting the reads its snapshots make (and what they ask)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.calls: Counter[str] = Counter()
        self.asked: list[tuple[str, list]] = []

    def entities(self, at, ids=None):
        if ids is not None:  # entity_names and active call entities(at) themselves
            self.calls["entities"] += 1
            self.asked.append(("entities", list(ids)))
        return super().entities(at, ids)

    def neighbours(self, ids, at):
        self.calls["neighbours"] += 1
        self.asked.append(("neighbours", list(ids)))
        return super().neighbours(ids, at)

    def records_at(self, indices):
        indices = list(indices)
        self.calls["records_at"] += 1
        self.asked.append(("records_at", indices))
        return super().records_at(indices)

    def embed_query(self, text):
        self.calls["embed_query"] += 1
        return super().embed_query(text)


def test_entities_by_id_are_read_once_per_snapshot() -> None:
    story = small_story(CountingReads)
    snap = story.at(6)
    first = snap.entities(["reddick", "edith", "nobody"])
    again = snap.entities(["edith", "reddick"])
    assert story.calls["entities"] == 1
    assert first == again == story.at(6).entities(["edith", "reddick"])  # a fresh snapshot reads again...
    assert story.calls["entities"] == 2  # ...its caches are its own
    story.asked.clear()
    snap.entities(["greaves", "edith", "nobody"])  # only the id not asked yet is read; "nobody" is remembered as unknown
    assert story.asked == [("entities", ["greaves"])]
    assert [e.id for e in snap.entities(["greaves", "hermit"])] == ["greaves", "hermit"]
    assert story.asked[-1] == ("entities", ["hermit"])


def test_neighbours_and_records_are_read_once_per_snapshot() -> None:
    story = small_story(CountingReads)
    snap = story.at(7)
    edges = snap.neighbours(["edith", "hermit"])
    assert snap.neighbours(["hermit", "edith"]) == {"hermit": edges["hermit"], "edith": edges["edith"]}
    assert story.calls["neighbours"] == 1
    assert edges == story.at(7).neighbours(["edith", "hermit"])
    story.asked.clear()
    assert set(snap.neighbours(["edith", "reddick"])) == {"edith", "reddick"}
    assert story.asked == [("neighbours", ["reddick"])]

    window = snap.window(3)
    assert snap.records_at(range(4, 8)) == window
    assert story.calls["records_at"] == 1  # the window, read once
    story.asked.clear()
    snap.records_at([2, 5, 9, -1])
    assert story.asked == [("records_at", [2])]  # 5 is kept; 9 and -1 are not positions of this snapshot


def test_queries_embedded_counts_distinct_queries() -> None:
    story = small_story(CountingReads)
    snap = story.at(5)
    assert snap.queries_embedded == 0
    first = snap.search("the harbour", k=4)
    assert snap.search("the harbour", k=4) == first
    snap.search("the harbour", k=2, kinds=("entity",))
    assert snap.queries_embedded == 1 and story.calls["embed_query"] == 1
    snap.search("the keeper", k=4)
    assert snap.query_vector("the keeper") == story.embed_query("the keeper")
    assert snap.queries_embedded == 2 and story.calls["embed_query"] == 3  # the direct call above counts one
    assert story.at(5).queries_embedded == 0  # a new task starts with none
    before = story.at(-1)
    assert before.search("the harbour") == [] and before.queries_embedded == 0


def test_a_snapshot_before_the_first_chunk_reads_nothing() -> None:
    story = small_story(CountingReads)
    snap = story.at(-1)
    assert snap.records() == [] and snap.records_at(range(N)) == {} and snap.chapters(range(N)) == {}
    assert snap.entities() == [] and snap.entities(ALL_IDS) == [] and snap.names(ALL_IDS) == {}
    assert snap.neighbours(["edith"]) == {"edith": {}} and snap.named_in(EVERY_NAME) == {}
    assert snap.active(5, 5) == [] and snap.relations() == [] and snap.graph().number_of_nodes() == 0
    assert snap.facts() == [] and snap.facts(ALL_IDS) == []
    assert snap.search("Edith") == []
    assert sum(story.calls.values()) == 0
    assert isinstance(snap, StorySnapshot) and snap.outline == STORY.outline
