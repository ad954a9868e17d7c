"""A writer's corrections of who is who (``automuse characters --merge A B`` /
``--split NAME`` / ``--undo N``): in force from their chunk, kept by repair and a
resumed ingest, reported by check once they no longer apply, refused with one line
and nothing stored when they cannot be given."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from conftest import SAMPLE_INGEST, cli

from automuse_rag.lore.entity import Entity
from automuse_rag.lore.resolve import resolve
from automuse_rag.lore.stats import Correction
from automuse_rag.lore.types import LoreMention
from automuse_rag.memory.oracle import NaiveLore
from automuse_rag.memory.story import StoryMemory
from automuse_rag.settings import get_settings

INGEST = SAMPLE_INGEST


@pytest.fixture
def built(extractive_sample: Path) -> Path:
    return extractive_sample


@pytest.fixture
def home(editable_sample: Path) -> Path:
    return editable_sample


def entity_of(ents: list[Entity], name: str) -> Entity:
    return next(e for e in ents if name in e.names())


def lore_at(home: Path, positions: list[int]) -> dict[int, list[dict]]:
    with StoryMemory.open(get_settings(home=home), "sample") as memory:
        return {i: [e.to_dict() for e in memory.at(i).entities()] for i in positions}


def assert_equals_naive(home: Path) -> None:
    """Every as-of read equals a from-scratch resolution of chunks 0..i with the
    corrections in force at i."""
    with StoryMemory.open(get_settings(home=home), "sample") as memory:
        naive = NaiveLore(memory.analyses(), "scratch", memory.corrections())
        for i in range(len(memory)):
            assert [e.to_dict() for e in memory.at(i).entities()] == [e.to_dict() for e in naive.entities(i)], f"as of {i}"


def stored(home: Path) -> list[tuple]:
    db = sqlite3.connect(home / "stores" / "sample" / "state.sqlite")
    try:
        return db.execute("SELECT seq, chunk, kind, a, b FROM corrections ORDER BY seq").fetchall()
    finally:
        db.close()


def test_merge_holds_from_its_chunk_and_not_before(home: Path) -> None:
    with StoryMemory.open(get_settings(home=home), "sample") as memory:
        before = memory.at(9).entities()
        assert entity_of(before, "Henry") is not entity_of(before, "Samuel Greaves")
    result = cli(home, "characters", "--story", "sample", "--merge", "Henry", "Samuel Greaves", "--from", "10")
    assert result.exit_code == 0, result.output
    assert result.stdout == "merged 'Henry' into 'Samuel Greaves' from chunk 10\n"
    assert stored(home) == [(1, 10, "merge", "Henry", "Samuel Greaves")]
    with StoryMemory.open(get_settings(home=home), "sample") as memory:
        at9, at10, last = memory.at(9).entities(), memory.at(10).entities(), memory.latest().entities()
        assert [e.to_dict() for e in at9] == [e.to_dict() for e in before], "nothing changes before chunk 10"
        for ents in (at10, last):
            card = entity_of(ents, "Henry")
            assert {"Henry", "Henry Dunmore", "Samuel Greaves", "Dr. Greaves"} <= set(card.names())
            assert card.name == "Samuel Greaves"  # merged into B: the name B went by
            assert card is entity_of(ents, "Samuel Greaves")
    assert_equals_naive(home)
    listed = json.loads(cli(home, "characters", "--story", "sample", "--json").stdout)
    row = next(r for r in listed if r["name"] == "Samuel Greaves")
    assert "Henry Dunmore" in row["aliases"]
    assert cli(home, "check", "--story", "sample").exit_code == 0


def test_merge_wins_over_the_rules_that_keep_two_apart(home: Path) -> None:
    """Mr. and Mrs. Pennock never merge by the rules (titles); the writer's merge does."""
    result = cli(home, "characters", "--story", "sample", "--merge", "Mrs. Pennock", "Mr. Pennock", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["story"] == "sample" and out["undone"] == []
    assert out["applied"] == [
        {
            "seq": 1,
            "kind": "merge",
            "a": "Mrs. Pennock",
            "b": "Mr. Pennock",
            "from": 0,
            "line": "merged 'Mrs. Pennock' into 'Mr. Pennock' from chunk 0",
        }
    ]
    with StoryMemory.open(get_settings(home=home), "sample") as memory:
        card = entity_of(memory.latest().entities(), "Mr. Pennock")
        assert {"Walter Pennock", "Margaret Pennock", "Mrs. Pennock"} <= set(card.names())
        assert card.name == "Walter Pennock"


def test_split_makes_a_name_its_own_entity(home: Path) -> None:
    result = cli(home, "characters", "--story", "sample", "--split", "Walter")
    assert result.exit_code == 0, result.output
    assert result.stdout == "split 'Walter' into an entity of its own from chunk 0\n"
    with StoryMemory.open(get_settings(home=home), "sample") as memory:
        for i in (5, len(memory) - 1):
            ents = memory.at(i).entities()
            walter = [e for e in ents if "Walter" in e.names()]
            assert [e.names() for e in walter] in ([], [["Walter"]])
            assert "Walter" not in entity_of(ents, "Walter Pennock").names()
        assert entity_of(memory.latest().entities(), "Walter").names() == ["Walter"]
    assert_equals_naive(home)
    assert cli(home, "check", "--story", "sample").exit_code == 0
    listing = cli(home, "characters", "--story", "sample", "--limit", "2")
    assert listing.exit_code == 0 and listing.stdout.endswith(
        "correction 1: split 'Walter' into an entity of its own from chunk 0\n"
    )
    # forgetting it puts Walter back with Walter Pennock
    undone = cli(home, "characters", "--story", "sample", "--undo", "1")
    assert (
        undone.exit_code == 0 and undone.stdout == "forgot correction 1: split 'Walter' into an entity of its own from chunk 0\n"
    )
    assert stored(home) == []
    with StoryMemory.open(get_settings(home=home), "sample") as memory:
        assert "Walter" in entity_of(memory.latest().entities(), "Walter Pennock").names()


def test_corrections_survive_repair(home: Path) -> None:
    assert cli(home, "characters", "--story", "sample", "--merge", "Henry", "Samuel Greaves", "--from", "4").exit_code == 0
    assert cli(home, "characters", "--story", "sample", "--split", "Margaret").exit_code == 0
    positions = [0, 3, 4, 12, 30]
    before = lore_at(home, positions)
    repaired = cli(home, "repair", "--story", "sample")
    assert repaired.exit_code == 0, repaired.output
    assert lore_at(home, positions) == before
    assert [r[2:] for r in stored(home)] == [("merge", "Henry", "Samuel Greaves"), ("split", "Margaret", "")]
    checked = cli(home, "check", "--story", "sample", "--json")
    assert checked.exit_code == 0 and json.loads(checked.stdout)["checked"]["corrections"] == 2
    assert_equals_naive(home)


def test_corrections_survive_a_resumed_ingest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = StoryMemory.commit_chunks
    calls = {"n": 0}

    def interrupted(self, items):  # the first batch is committed, then Ctrl-C
        calls["n"] += 1
        if calls["n"] > 1:
            raise KeyboardInterrupt
        return real(self, items)

    monkeypatch.setattr(StoryMemory, "commit_chunks", interrupted)
    assert cli(tmp_path, *INGEST).exit_code == 130
    monkeypatch.setattr(StoryMemory, "commit_chunks", real)
    with StoryMemory.open(get_settings(home=tmp_path), "sample", verify=False) as memory:
        partial = len(memory)
    assert 5 < partial < 31
    result = cli(tmp_path, "characters", "--story", "sample", "--merge", "Henry", "Samuel Greaves", "--from", "5")
    assert result.exit_code == 0, result.output
    resumed = cli(tmp_path, *INGEST)
    assert resumed.exit_code == 0, resumed.output
    with StoryMemory.open(get_settings(home=tmp_path), "sample") as memory:
        assert len(memory) == 31
        assert memory.corrections() == [Correction(5, 1, "merge", "Henry", "Samuel Greaves")]
        card = entity_of(memory.latest().entities(), "Henry Dunmore")
        assert "Samuel Greaves" in card.names()
        assert "Samuel Greaves" not in entity_of(memory.at(4).entities(), "Henry").names()
    assert_equals_naive(tmp_path)
    assert cli(tmp_path, "check", "--story", "sample").exit_code == 0


def test_check_reports_corrections_that_no_longer_apply(home: Path) -> None:
    assert cli(home, "characters", "--story", "sample", "--merge", "Henry", "Samuel Greaves").exit_code == 0
    assert cli(home, "characters", "--story", "sample", "--split", "Henry").exit_code == 0  # undoes the merge for Henry
    assert cli(home, "characters", "--story", "sample", "--merge", "Edith", "Edith Marlowe").exit_code == 0  # one anyway: fine
    assert cli(home, "check", "--story", "sample").exit_code == 1
    # as if stored when the rules saw the story otherwise: a name no longer kept, a split
    # of a name that is alone anyway
    db = sqlite3.connect(home / "stores" / "sample" / "state.sqlite")
    with db:
        db.execute("INSERT INTO corrections (chunk, kind, a, b) VALUES (0, 'merge', 'Nobody Atall', 'Edith')")
        db.execute("INSERT INTO corrections (chunk, kind, a, b) VALUES (0, 'split', 'Tregarth House', '')")
    db.close()
    assert cli(home, "repair", "--story", "sample").exit_code == 0
    result = cli(home, "check", "--story", "sample", "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert not report["healthy"]
    assert report["problems"] == [
        "correction 1 (merge 'Henry' into 'Samuel Greaves' from chunk 0) no longer applies: a later correction keeps "
        "'Henry' and 'Samuel Greaves' apart (forget it with automuse characters --story sample --undo 1)",
        "correction 4 (merge 'Nobody Atall' into 'Edith' from chunk 0) no longer applies: 'Nobody Atall' is no longer "
        "a name in the story (forget it with automuse characters --story sample --undo 4)",
        "correction 5 (split 'Tregarth House' from chunk 0) is no longer needed: 'Tregarth House' is an entity of its "
        "own without it (forget it with automuse characters --story sample --undo 5)",
    ]
    text = cli(home, "check", "--story", "sample")
    assert text.exit_code == 1 and "problem: correction 5 (split 'Tregarth House'" in text.stdout
    assert text.stdout.endswith(
        "story sample: 3 problems; forget the corrections that no longer apply with automuse characters --story sample --undo N\n"
    )
    assert cli(home, "characters", "--story", "sample", "--undo", "1", "--undo", "4", "--undo", "5").exit_code == 0
    assert cli(home, "check", "--story", "sample").exit_code == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--merge", "Henry", "Henry"], "error: --merge needs two different names, not 'Henry' twice"),
        (["--merge", "Henri", "Samuel Greaves"], "error: story sample has no name 'Henri' (did you mean 'Henry'"),
        (["--merge", "Port Carrow", "Henry"], "error: 'Port Carrow' is a place in story sample, not a character"),
        (["--split", "Tregarth House"], "error: 'Tregarth House' is a place in story sample, not a character"),
        (["--split", "Henry", "--from", "31"], "error: --from 31 is outside story sample (chunks 0 to 30)"),
        (["--split", "Henry", "--from", "-1"], "error: --from -1 is outside story sample (chunks 0 to 30)"),
        (["--undo", "3"], "error: story sample has no correction 3 (its corrections: none)"),
        (["--from", "2"], "error: --from needs a correction: --merge A B or --split NAME"),
        (["--split", "Henry", "--at", "3"], "error: --at, --kind and --graphml list entities"),
    ],
)
def test_bad_corrections_are_one_line_and_store_nothing(home: Path, args: list[str], message: str) -> None:
    state = home / "stores" / "sample" / "state.sqlite"
    before = state.read_bytes()
    result = cli(home, "characters", "--story", "sample", *args)
    assert result.exit_code == 2
    assert result.output.startswith(message) and result.output.count("\n") == 1, result.output
    assert state.read_bytes() == before and stored(home) == []
    assert not (home / "stores" / ".locks" / "sample.lock").exists()


def test_a_correction_of_a_missing_story_is_one_line_and_creates_nothing(home: Path) -> None:
    listing = lambda: sorted(p.relative_to(home) for p in (home / "stores").glob("*/*") if "sample" not in p.parts)  # noqa: E731
    before = listing()
    result = cli(home, "characters", "--story", "nope", "--split", "Walter")
    assert result.exit_code == 2 and result.output.startswith("error: no story 'nope'") and result.output.count("\n") == 1
    assert listing() == before and not (home / "stores" / "nope").exists()


def test_a_split_of_a_name_alone_is_refused(home: Path) -> None:
    assert cli(home, "characters", "--story", "sample", "--split", "Walter").exit_code == 0
    again = cli(home, "characters", "--story", "sample", "--split", "Walter")
    assert again.exit_code == 2 and again.output == "error: 'Walter' is already an entity of its own in story sample\n"
    assert len(stored(home)) == 1


def test_a_format_1_store_is_upgraded_by_repair(home: Path) -> None:
    db = sqlite3.connect(home / "stores" / "sample" / "state.sqlite")
    db.execute("DROP TABLE corrections")
    db.execute("PRAGMA user_version=1")
    db.close()
    refused = cli(home, "characters", "--story", "sample", "--split", "Walter")
    assert refused.exit_code == 2 and "store format 1" in refused.output and "automuse repair --story sample" in refused.output
    repaired = cli(home, "repair", "--story", "sample")
    assert repaired.exit_code == 0 and "upgraded story sample from store format 1 to 4" in repaired.output
    assert cli(home, "characters", "--story", "sample", "--split", "Walter").exit_code == 0
    assert cli(home, "check", "--story", "sample").exit_code == 0


def _m(name: str) -> LoreMention:
    return LoreMention(name=name, labels={"PERSON": 2}, count=2)


def test_the_resolver_applies_corrections_after_its_rules_in_order() -> None:
    chunks = [(0, [_m("Edith Marlowe"), _m("Miss Marlowe"), _m("Thomas Reddick"), _m("Captain Reddick")])]
    distinct = [(0, "Miss Marlowe", "Edith Marlowe")]  # two people in one sentence: the rules keep them apart

    def groups(fixes: list[Correction]) -> list[list[str]]:
        return sorted(sorted(e.names()) for e in resolve(chunks, (), distinct, fixes)[0])

    plain = [["Captain Reddick", "Thomas Reddick"], ["Edith Marlowe"], ["Miss Marlowe"]]
    assert groups([]) == plain
    assert sorted(sorted(e.names()) for e in resolve(chunks)[0]) == [
        ["Captain Reddick", "Thomas Reddick"],
        ["Edith Marlowe", "Miss Marlowe"],
    ]
    # the writer's merge wins over the distinct pair, and over everything else
    merge = Correction(0, 1, "merge", "Miss Marlowe", "Edith Marlowe")
    assert groups([merge]) == [["Captain Reddick", "Thomas Reddick"], ["Edith Marlowe", "Miss Marlowe"]]
    both = Correction(0, 2, "merge", "Thomas Reddick", "Miss Marlowe")
    ents = resolve(chunks, (), distinct, [merge, both])[0]
    assert [sorted(e.names()) for e in ents] == [["Captain Reddick", "Edith Marlowe", "Miss Marlowe", "Thomas Reddick"]]
    assert ents[0].name == "Edith Marlowe"  # the name B's entity went by
    # a later split takes a name out again; a later merge wins over an earlier split
    assert groups([merge, Correction(0, 2, "split", "Miss Marlowe")]) == plain
    split_then_merge = [
        Correction(0, 1, "split", "Captain Reddick"),
        Correction(0, 2, "merge", "Captain Reddick", "Thomas Reddick"),
    ]
    assert groups(split_then_merge) == plain
    assert groups(split_then_merge[:1]) == [["Captain Reddick"], ["Edith Marlowe"], ["Miss Marlowe"], ["Thomas Reddick"]]
    # a correction naming a name not seen does nothing
    assert groups([Correction(0, 1, "merge", "Nobody", "Edith Marlowe"), Correction(0, 2, "split", "Nobody")]) == plain


def test_the_dataset_audit_reads_the_story_with_its_corrections(home: Path, tmp_path: Path) -> None:
    """The leakage audit's own reading of the story (no store code) takes the
    corrections too: the cards of a merged character are not leaks."""
    assert cli(home, "characters", "--story", "sample", "--merge", "Henry", "Samuel Greaves", "--from", "10").exit_code == 0
    out = tmp_path / "sample.jsonl"
    args = ["dataset", "--story", "sample", "--out", str(out), "--llm", "extractive", "--budget", "1024"]
    result = cli(home, *args)
    assert result.exit_code == 0, result.output
    assert "0 violations in 31 samples" in result.output
    assert "Samuel Greaves (character)" in out.read_text(encoding="utf-8")
