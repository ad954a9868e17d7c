"""The memory core's invariants, with hypothesis over random books.

1. Folding chunks one at a time (:class:`LoreState`) equals resolving each prefix
   from scratch (:func:`resolve_all`), at every prefix, with the writer's
   corrections (merges and splits) in force from their chunk on.
2. Committing through ``state.sqlite`` in any order, in batches, with re-commits
   and with commits that fail half way (rolled back) and writers reopened between
   them, ends with valid-time rows whose every as-of read equals the naive reading
   of the rows ``<= i``: a from-scratch resolution of chunks ``0..i``
   (:meth:`InMemoryStory.from_analyses`); writer's corrections given between the
   commits (each re-resolving the stored lore from its chunk) included.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from automuse_rag.finetune.leakage import CoMentions
from automuse_rag.lore.family import FAMILY_ANY, FAMILY_VIA
from automuse_rag.lore.lorestate import LoreState
from automuse_rag.lore.resolve import collect, resolve_all
from automuse_rag.lore.stats import Correction
from automuse_rag.lore.types import ChunkAnalysis, LoreMention
from automuse_rag.memory.inmemory import InMemoryStory
from automuse_rag.memory.oracle import NaiveLore
from automuse_rag.memory.schema import connect
from automuse_rag.memory.state import StateWriter, read_corrections
from automuse_rag.memory.types import ChunkRecord
from automuse_rag.memory.views import LATEST, StateReader
from automuse_rag.models.fake import HashEmbedder
from automuse_rag.text.types import Chunk

FIRSTS = ["Edith", "Thomas", "Jane", "Harry", "Henry", "Walter", "Lizzy", "Elizabeth", "Tom"]
SURNAMES = ["Marlowe", "Bennet", "Reddick", "Pennock"]
TITLES = ["Mr.", "Mrs.", "Miss", "Captain", "Lady", "Dr."]
PLACES = ["Port Carrow", "Hollin Island", "Meryton", "Kestrel Point", "Longbourn"]


@st.composite
def names(draw) -> str:
    form = draw(st.integers(0, 5))
    f, s, t = draw(st.sampled_from(FIRSTS)), draw(st.sampled_from(SURNAMES)), draw(st.sampled_from(TITLES))
    return [f"{f} {s}", f"{t} {s}", f, s, f"{t} {f}", draw(st.sampled_from(PLACES))][form]


@st.composite
def mentions(draw) -> list[LoreMention]:
    picked = draw(st.lists(names(), min_size=0, max_size=5, unique=True))
    out = []
    for n in picked:
        label = draw(st.sampled_from(["PERSON", "PERSON", "GPE", "LOC", "ORG"]))
        model = draw(st.booleans()) and draw(st.booleans())
        out.append(
            LoreMention(
                name=n,
                labels={label: draw(st.integers(1, 3))},
                count=draw(st.integers(1, 3)),
                he=draw(st.integers(0, 2)),
                she=draw(st.integers(0, 2)),
                lower=draw(st.integers(0, 1)) if " " not in n else 0,
                at=draw(st.integers(0, 2)),
                description=draw(st.sampled_from(["", f"{n} did a thing.", f"{n} was there."])),
                source="ner+model" if model else "ner",
                kind=draw(st.sampled_from(["", "character", "place"])) if model else "",
                aliases=[a for a in draw(st.lists(names(), max_size=1)) if a != n] if model else [],
                to_narrator=draw(st.sampled_from([0, 0, 1])),  # spoken to the narrator (lore/narrator.py)
            )
        )
    return out


@st.composite
def books(draw, max_chunks: int = 12) -> list[ChunkAnalysis]:
    chunks = draw(st.lists(mentions(), min_size=1, max_size=max_chunks))
    out = []
    for ms in chunks:
        rels = []
        if len(ms) >= 2 and draw(st.booleans()):
            a, b = draw(st.permutations([m.name for m in ms]))[:2]
            rels.append(
                {
                    "source": a,
                    "target": b,
                    "label": draw(st.sampled_from(["sister of", "married", "friend of"])),
                    "via": draw(st.sampled_from(["", "parse"])),
                }
            )
        if ms and draw(st.booleans()):  # kin nouns the story decides (lore/family.py)
            owner = draw(st.sampled_from([m.name for m in ms]))
            others = [m.name for m in ms if m.name != owner]
            label = draw(st.sampled_from(["sister of", "brother of", "mother of", "father of", "wife of", "husband of"]))
            for cand in draw(st.lists(st.sampled_from(others), max_size=2, unique=True)) if others else []:
                rels.append({"source": cand, "target": owner, "label": label, "via": FAMILY_VIA})
            if draw(st.booleans()):  # named near no one: any of the owner's family
                rels.append({"source": FAMILY_ANY, "target": owner, "label": label, "via": FAMILY_VIA})
        distinct = []
        if len(ms) >= 2 and draw(st.booleans()):
            a, b = draw(st.permutations([m.name for m in ms]))[:2]
            distinct.append((a, b))
        out.append(ChunkAnalysis(summary="s", mentions=ms, relations=rels, distinct=distinct))
    return out


@st.composite
def fixes(draw, book: list[ChunkAnalysis]) -> list[Correction]:
    """A writer's corrections (seq in the order given), mostly of names the book uses."""
    used = sorted({m.name for a in book for m in a.mentions})
    pick = st.sampled_from(used) | names() if used else names()
    out = []
    for seq in range(1, draw(st.integers(0, 4)) + 1):
        kind = draw(st.sampled_from(["merge", "merge", "split"]))
        a = draw(pick)
        b = draw(pick.filter(lambda n, a=a: n != a)) if kind == "merge" else ""
        out.append(Correction(draw(st.integers(0, len(book) - 1)), seq, kind, a, b))
    return out


@st.composite
def corrected_books(draw, max_chunks: int) -> tuple[list[ChunkAnalysis], list[Correction]]:
    book = draw(books(max_chunks=max_chunks))
    return book, draw(fixes(book))


def _chunk(i: int) -> Chunk:
    return Chunk(i, f"b:{i:05d}:x", i // 4 + 1, f"Chapter {i // 4 + 1}", i * 10, i * 10 + 9, f"Text of chunk {i}.")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(corrected_books(max_chunks=16))
def test_fold_equals_from_scratch_resolution_at_every_prefix(corrected: tuple[list[ChunkAnalysis], list[Correction]]) -> None:
    book, given = corrected
    state = LoreState()
    chunks = [(i, a.mentions) for i, a in enumerate(book)]
    for i, ms in chunks:
        state.add_chunk(i, ms, book[i].distinct, [c for c in given if c.chunk == i])
        assert state.clusters() == resolve_all(
            collect(chunks[: i + 1]),
            [(j, m.name, list(m.aliases)) for j, mm in chunks[: i + 1] for m in mm if m.aliases],
            [(j, a, b) for j in range(i + 1) for a, b in book[j].distinct],
            [c for c in given if c.chunk <= i],
        )
        state.check_ids()


class Crash(Exception):
    pass


def _run_schedule(
    db_path: Path, book: list[ChunkAnalysis], ops: list[tuple[str, int]], monkeypatch, given: list[Correction] = ()
) -> None:
    """Apply ``ops`` to a fresh state.sqlite, then commit whatever is missing in order
    and give the corrections not given yet."""
    todo_fixes = list(given)
    db = connect(db_path, readonly=False)
    writer = StateWriter(db)
    writer.init({"store_id": "t", "story": "t", "manifest": "{}"})
    n = len(book)
    for op, arg in ops:
        idx = arg % n
        if op == "commit":
            writer.commit([(_chunk(idx), book[idx], "s")])
        elif op == "batch":
            todo = [i for i in range(idx, min(n, idx + 3))]
            writer.commit([(_chunk(i), book[i], "s") for i in todo])
        elif op == "crash":  # a commit that dies inside its transaction, after writing rows
            real = LoreState.add_chunk
            calls = {"n": 0}
            todo_crash = [j for j in range(idx, min(n, idx + 3))]

            def dying(self, i, ms, distinct=(), corrections=(), real=real, calls=calls, todo_crash=todo_crash):
                calls["n"] += 1
                if calls["n"] >= 2 or i == max(todo_crash):
                    raise Crash
                return real(self, i, ms, distinct, corrections)

            monkeypatch.setattr(LoreState, "add_chunk", dying)
            try:
                with pytest.raises(Crash):
                    writer.commit([(_chunk(j), book[j], "s") for j in todo_crash])
            finally:
                monkeypatch.setattr(LoreState, "add_chunk", real)
        elif op == "reopen":
            db.close()
            db = connect(db_path, readonly=False)
            writer = StateWriter(db)
        elif op == "correct" and todo_fixes:  # a writer's correction, re-resolving what is stored from its chunk
            fix = todo_fixes.pop(0)
            writer.correct([(fix.kind, fix.a, fix.b, fix.chunk % n)])
        elif op == "undo":  # forgetting one, re-resolving from its chunk
            seqs = [int(r[0]) for r in db.execute("SELECT seq FROM corrections ORDER BY seq")]
            if seqs:
                writer.correct([], [seqs[arg % len(seqs)]])
    done = {int(r[0]) for r in db.execute("SELECT idx FROM chunks")}
    missing = [i for i in range(n) if i not in done]
    for i in missing:
        writer.commit([(_chunk(i), book[i], "s")])
    for fix in todo_fixes:
        writer.correct([(fix.kind, fix.a, fix.b, fix.chunk % n)])
    db.close()


OPS = st.lists(
    st.tuples(st.sampled_from(["commit", "commit", "batch", "crash", "reopen", "correct", "undo"]), st.integers(0, 40)),
    max_size=10,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(corrected=corrected_books(max_chunks=10), ops=OPS, probe=st.lists(names(), max_size=4))
def test_any_commit_order_ends_with_as_of_reads_equal_to_naive(tmp_path_factory, monkeypatch, corrected, ops, probe) -> None:
    book, given = corrected
    path = tmp_path_factory.mktemp("core") / "state.sqlite"
    _run_schedule(path, book, ops, monkeypatch, given)
    reader = StateReader(connect(path, readonly=True))
    stored = read_corrections(reader.db)
    assert {(c.kind, c.a, c.b) for c in stored} <= {(c.kind, c.a, c.b) for c in given}
    records = [
        ChunkRecord(i, _chunk(i).id, _chunk(i).chapter, _chunk(i).chapter_title, _chunk(i).text, "s") for i in range(len(book))
    ]
    naive = InMemoryStory.from_analyses("t", list(zip(records, book)), HashEmbedder(8), corrections=stored)
    oracle = NaiveLore(list(enumerate(book)), "fold", stored)
    text = " and ".join(probe) + ". Mr. Bennet met Edith Marlowe at Port Carrow."
    for i in range(len(book)):
        snap = naive.at(i)
        want = snap.entities()
        assert [e.to_dict() for e in reader.entities(i)] == [e.to_dict() for e in want], f"as of {i}"
        ids = [e.id for e in want]
        assert reader.entities(i, ids[:2]) == snap.entities(ids[:2])
        assert reader.entity_names(ids, i) == snap.names(ids) == {e.id: e.name for e in want}
        assert reader.relations(i) == snap.relations()
        assert reader.named_in(text, i) == snap.named_in(text)
        for window in (1, 3, 100):
            assert reader.active(i, window, 5) == snap.active(window, 5), (i, window)
        assert reader.neighbours(ids, i) == snap.neighbours(ids)
        assert oracle.known(i) == {e.id: e.name for e in want}  # the dataset audit's shortcut
        # relations reused from the position before (views.py, oracle.py) equal a fresh reading
        fresh = NaiveLore(list(enumerate(book)), "fold", stored)
        assert reader.relations(i) == oracle.relations(i) == fresh.relations(i), f"as of {i}"
    co = CoMentions(oracle)  # the audit's co-occurrences, carried forward, then asked walking back
    for i in (*range(len(book)), *reversed(range(len(book)))):
        for eid in oracle.states(i):
            assert oracle.edges(eid, i, co=co.of(eid, i)) == oracle.edges(eid, i), f"{eid} as of {i}"
    for i in reversed(range(len(book))):  # one reader walking back: its name indexes (memory/name_index.py) read as prefixes
        snap = naive.at(i)
        ids = [e.id for e in snap.entities()]
        assert reader.entities(i, ids) == snap.entities(ids), f"as of {i}, walking back"
        assert reader.neighbours(ids, i) == snap.neighbours(ids), f"as of {i}, walking back"
    assert reader.entities(LATEST) == naive.latest().entities()
    for table in ("chunks", "mentions"):  # the counts kept by deltas are the real ones
        assert reader.count(table) == reader.db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
    reader.db.close()


def test_an_open_reader_sees_each_commit_and_correction(tmp_path: Path) -> None:
    """A reader kept open while a writer commits and corrects answers like a fresh one:
    its name indexes, grown as positions advance, go with the version they were read at."""
    db = connect(tmp_path / "state.sqlite", readonly=False)
    writer = StateWriter(db)
    writer.init({"store_id": "t", "story": "t", "manifest": "{}"})
    reader = StateReader(connect(tmp_path / "state.sqlite", readonly=True))

    def m(name: str, label: str = "PERSON") -> LoreMention:
        return LoreMention(name=name, labels={label: 1}, count=1, description=f"{name} was there.")

    book = [[m("Edith Marlowe"), m("Tom")], [m("Edith"), m("Port Carrow", "GPE")], [m("Edith"), m("Tom")], [m("Tom")]]

    def same_as_fresh(at: int) -> int:
        fresh = StateReader(connect(tmp_path / "state.sqlite", readonly=True))
        ids = [e.id for e in fresh.entities(at)]
        assert reader.entities(at, ids) == fresh.entities(at, ids)
        assert reader.neighbours(ids, at) == fresh.neighbours(ids, at)
        assert reader.relations(at) == fresh.relations(at)  # rows kept per version (memory/row_cache.py)
        assert reader.relations(at, members=["Tom"]) == fresh.relations(at, members=["Tom"])
        assert reader.facts(at) == fresh.facts(at)
        assert reader.facts(at, ids[:1]) == fresh.facts(at, ids[:1])
        fresh.db.close()
        return len(ids)

    def said(i: int) -> ChunkAnalysis:  # a relation and a fact in each chunk, so each commit adds rows
        rel = {"source": "Tom", "target": "Edith Marlowe", "label": f"friend {i} of"}
        fact = {
            "kind": "hair",
            "name": "Edith Marlowe",
            "value": ["red", "grey", "white", "brown"][i],
            "sentence": "s",
            "chunk": i,
        }
        return ChunkAnalysis("s", book[i], relations=[rel], facts=[fact])

    for i in range(3):
        writer.commit([(_chunk(i), said(i), "s")])
        same_as_fresh(i)
    writer.commit([(_chunk(3), said(3), "s")])  # Tom again, after the reader grew to chunk 2
    assert same_as_fresh(3) >= 2
    assert len(reader.relations(3)) >= 2 and reader.facts(3)  # read after they were written
    # chunk 2 written again without Edith, once the reader has read her mentions past it
    writer.commit([(_chunk(2), ChunkAnalysis("s", [m("Tom"), m("Port Carrow", "GPE")]), "s")])
    assert same_as_fresh(3) >= 2
    writer.correct([("merge", "Edith", "Tom", 1)])  # a writer's merge from chunk 1 re-resolves what is stored
    same_as_fresh(3)
    same_as_fresh(2)
    reader.db.close()
    db.close()


def test_commit_touches_only_what_the_chunk_changes(tmp_path: Path) -> None:
    """Committing a chunk that names nobody new writes no entity versions; a chunk
    that reveals two names are one entity rewrites those two entities only."""
    db = connect(tmp_path / "state.sqlite", readonly=False)
    writer = StateWriter(db)
    writer.init({"store_id": "t", "story": "t", "manifest": "{}"})

    def m(name: str, label: str = "PERSON", count: int = 1) -> LoreMention:
        return LoreMention(name=name, labels={label: 1}, count=count)

    book = [
        [m("Edith Marlowe"), m("Port Carrow", "GPE")],
        [m("Edith Marlowe"), m("Port Carrow", "GPE"), m("Thomas Reddick")],
        [m("Thomas Reddick"), m("Zoe")],
        [m("Zoe"), m("Port Carrow", "GPE")],
    ]
    for i, ms in enumerate(book):
        writer.commit([(_chunk(i), ChunkAnalysis("s", ms), "s")])
    versions = lambda: db.execute("SELECT entity_id, since, until FROM entity_versions ORDER BY entity_id, since").fetchall()  # noqa: E731
    before = versions()
    writer.commit([(_chunk(4), ChunkAnalysis("s", [m("Edith Marlowe"), m("Port Carrow", "GPE")]), "s")])
    assert [v for v in versions() if v not in before] == [], "nothing about the entities changed"
    # "Zoe Harland" arrives: Zoe and the full name become one entity; Edith and the place are untouched
    writer.commit([(_chunk(5), ChunkAnalysis("s", [m("Zoe Harland", count=2), m("Zoe")]), "s")])
    changed = {v[0] for v in versions() if v not in before}
    assert changed == {"zoe"}
    assert db.execute("SELECT since, until FROM entity_versions WHERE entity_id = 'zoe' ORDER BY since").fetchall()[0] == (3, 5)
    reader = StateReader(db)
    assert {e.name for e in reader.entities(4)} >= {"Zoe"} and "Zoe Harland" not in {e.name for e in reader.entities(4)}
    zoe = next(e for e in reader.entities(5) if e.id == "zoe")
    assert set(zoe.aliases) == {"Zoe", "Zoe Harland"} and zoe.name == "Zoe Harland"
    db.close()


def test_readonly_connection_leaves_no_files(tmp_path: Path) -> None:
    db = connect(tmp_path / "state.sqlite", readonly=False)
    StateWriter(db).init({"store_id": "t", "story": "t", "manifest": "{}"})
    db.close()
    before = sorted(p.name for p in tmp_path.iterdir())
    ro = connect(tmp_path / "state.sqlite", readonly=True)
    assert StateReader(ro).count() == 0
    with pytest.raises(sqlite3.OperationalError):
        ro.execute("INSERT INTO meta VALUES ('x', 'y')")
    ro.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == before == ["state.sqlite"]
