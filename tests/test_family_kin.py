"""Unnamed kin nouns resolved by the family the whole story knows (lore/family.py):
"her brother" of a Catherine the chunk never calls Catherine Morland."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import cli

from automuse_rag.lore.family import FAMILY_ANY, FAMILY_VIA, family_relations, fits
from automuse_rag.memory.oracle import NaiveLore
from automuse_rag.memory.story import StoryMemory
from automuse_rag.settings import get_settings

CATHERINE = ["Catherine", "Catherine Morland", "Miss Morland"]
JAMES = ["James", "James Morland"]
MRS_MORLAND = ["Mrs. Morland"]
MR_MORLAND = ["Mr. Morland"]
ISABELLA = ["Isabella", "Isabella Thorpe"]


@pytest.mark.parametrize(
    ("kin", "owner", "role", "holds"),
    [
        (JAMES, CATHERINE, "brother", True),
        (JAMES, CATHERINE, "sister", False),  # a man is no sister
        (ISABELLA, CATHERINE, "sister", False),  # no surname in common
        (MRS_MORLAND, CATHERINE, "mother", True),
        (MRS_MORLAND, CATHERINE, "sister", False),  # named by her husband's name: born to another family
        (MRS_MORLAND, CATHERINE, "daughter", False),
        (CATHERINE, MRS_MORLAND, "daughter", True),
        (CATHERINE, MRS_MORLAND, "sister", False),  # Mrs. Morland's own sister is no Morland
        (CATHERINE, JAMES, "mother", False),  # a "Miss" is nobody's mother
        (JAMES, CATHERINE, "son", False),  # ...and has no son
        (MR_MORLAND, MRS_MORLAND, "husband", True),
        (MRS_MORLAND, MR_MORLAND, "mother", False),  # Mr. and Mrs. Morland are husband and wife
        (MRS_MORLAND, CATHERINE, "wife", False),  # a wife is a man's
    ],
)
def test_a_candidate_fits_by_names_alone(kin: list[str], owner: list[str], role: str, holds: bool) -> None:
    assert fits(kin, owner, role) is holds


EIDS = {
    "Catherine": "cat",
    "Catherine Morland": "cat",
    "James": "james",
    "Mrs. Morland": "mrs",
    "Isabella": "isa",
    "Richard Morland": "dick",
}
NAMES = {"cat": CATHERINE, "james": JAMES, "mrs": MRS_MORLAND, "isa": ISABELLA, "dick": ["Richard Morland"]}


def test_the_one_candidate_of_the_family_holds() -> None:
    rows = [(3, "James", "Catherine", "brother of"), (3, "Isabella", "Catherine", "brother of")]
    assert family_relations(rows, EIDS, NAMES) == [("james", "cat", "brother of", 3)]
    # a second Morland of the kin word's sex in the scene: the kin noun is left unread
    two = [*rows, (3, "Richard Morland", "Catherine", "brother of")]
    assert family_relations(two, EIDS, NAMES) == []
    # names the story has not resolved (yet) hold nothing
    assert family_relations([(3, "James", "Catherine", "brother of")], {"Catherine": "cat"}, NAMES) == []


def test_a_pair_read_with_two_bonds_keeps_the_one_read_more_often() -> None:
    brother = [(c, "James", "Catherine", "brother of") for c in (3, 9)]
    father = [(5, "James", "Catherine", "father of")]
    assert family_relations([*brother, *father], EIDS, NAMES) == [
        ("james", "cat", "brother of", 3),
        ("james", "cat", "brother of", 9),
    ]
    # "her brother" once and "her father" once: neither
    assert family_relations([brother[0], *father], EIDS, NAMES) == []
    # the same bond read from either side counts as one: "his sister" of James is Catherine
    sister = [(7, "Catherine", "James", "sister of")]
    assert family_relations([brother[0], *father, *sister], EIDS, NAMES) == [
        ("james", "cat", "brother of", 3),
        ("cat", "james", "sister of", 7),
    ]


STORY = """CHAPTER I

Catherine Morland was the eldest daughter of a clergyman in Wiltshire.
James Morland was at Oxford. Mrs. Morland had ten children and a plain, quiet
way with all of them.

CHAPTER II

Every morning that week Catherine walked to the end of the lane to wait for her
brother. On Friday a gig came round the corner and James jumped down from it,
laughing, with his hat in his hand.

CHAPTER III

James stayed a week. Catherine showed him the new orchard, and James said it
was the finest in the county.
"""


def ingested(tmp_path: Path, text: str, story: str, size: int) -> Path:
    """A home with ``text`` ingested as ``story`` (extractive lore, hash vectors)."""
    book = tmp_path / f"{story}.txt"
    book.write_text(text, encoding="utf-8")
    home = tmp_path / "home"
    result = cli(home, "ingest", str(book), "--story", story, "--llm", "extractive", "--embedder", "hash:32", "--size", str(size))
    assert result.exit_code == 0, result.output
    return home


@pytest.fixture
def morland(tmp_path: Path) -> Path:
    return ingested(tmp_path, STORY, "morland", 300)


def test_her_brother_is_the_morland_named_by_his_given_name(morland: Path) -> None:
    with StoryMemory.open(get_settings(home=morland), "morland") as memory:
        analyses = memory.analyses()
        stored = [(i, r) for i, a in analyses for r in a.relations if r.get("via") == FAMILY_VIA]
        assert stored, "the chunk keeps the kin noun's candidates"
        assert all("Morland" not in r["target"] for _, r in stored), "the chunk itself never names her surname"
        snap = memory.latest()
        names = {e.id: e.name for e in snap.entities()}
        rels = [(names[r.source], r.label, names[r.target], r.via) for r in snap.relations()]
        assert ("James Morland", "brother of", "Catherine Morland", FAMILY_VIA) in rels
        first = min(i for i, _ in stored)
        assert not [r for r in memory.at(first - 1).relations() if r.via == FAMILY_VIA], "nothing before the chunk that says it"
        naive = NaiveLore(analyses, "fold")
        for i in range(len(memory)):
            assert memory.at(i).relations() == naive.relations(i), f"as of {i}"
        card = next(e for e in snap.entities() if e.name == "James Morland")
        assert any("brother of Catherine Morland" in line for _, line in card.relations)


def test_a_kin_noun_named_near_no_one_is_the_one_of_the_family_the_story_knows() -> None:
    """ "Diana's mother" with nobody named around it: the one Barry the story knows
    who may be her mother (Mrs. Barry), as the story stands when it is read."""
    eids = {"Diana": "diana", "Diana Barry": "diana", "Mrs. Barry": "mrs", "Jane": "jane", "Jane Andrews": "jane"}
    names = {"diana": ["Diana", "Diana Barry"], "mrs": ["Mrs. Barry"], "jane": ["Jane", "Jane Andrews"]}
    rows = [(4, FAMILY_ANY, "Diana", "mother of")]
    assert family_relations(rows, eids, names) == [("mrs", "diana", "mother of", 4)]
    # before the story knows a Barry who may be her mother, nothing
    assert (
        family_relations(rows, {k: v for k, v in eids.items() if v != "mrs"}, {k: v for k, v in names.items() if k != "mrs"})
        == []
    )
    # two who may be: neither
    two = {**eids, "Lady Barry": "lady"}, {**names, "lady": ["Lady Barry"]}
    assert family_relations(rows, *two) == []
    # found by the whole story, a mother is one it titles as a grown woman, not a given name alone
    sue = {**eids, "Susan Barry": "sue"}, {**names, "sue": ["Susan", "Susan Barry"]}
    del sue[0]["Mrs. Barry"], sue[1]["mrs"]
    assert family_relations(rows, *sue) == []
    assert family_relations([(4, FAMILY_ANY, "Diana", "sister of")], *sue) == [("sue", "diana", "sister of", 4)]
    # a candidate named near it decides, not the whole family
    near = [*rows, (4, "Jane", "Diana", "mother of")]
    assert family_relations(near, eids, names) == []


def test_a_wife_named_by_her_husbands_full_name_is_his_alone() -> None:
    regina = ["Regina", "Mrs. Julius Beaufort"]
    assert fits(regina, ["Julius", "Julius Beaufort"], "wife")
    assert not fits(regina, ["Colonel Beaufort"], "wife")  # his father's wife is another Mrs. Beaufort
    assert not fits(["Colonel Beaufort"], regina, "husband")
    assert fits(["Mrs. Mary Beaufort"], ["Colonel Beaufort"], "wife")  # her own given name says nothing of his


ORCHARD = """CHAPTER I

Diana Barry lived at Orchard Slope. Mrs. Barry kept the house very strictly,
and nobody at Orchard Slope was ever late for tea. On Sundays Mrs. Barry and
Diana Barry drove to church in the buggy, and Diana wore her best hat.

CHAPTER II

Diana liked the parlour best. The lamp in it had been broken off long ago. It
hung there for years all the same, and the glass drops shook whenever the door
was slammed. Diana's mother told her it had come all the way from Boston. It
was the prettiest thing in the whole house, and Diana dusted it every Saturday.
"""


def test_her_mother_named_in_another_chapter_is_read_from_the_story(tmp_path: Path) -> None:
    home = ingested(tmp_path, ORCHARD, "orchard", 200)
    with StoryMemory.open(get_settings(home=home), "orchard") as memory:
        analyses = memory.analyses()
        anyone = [i for i, a in analyses for r in a.relations if r.get("source") == FAMILY_ANY]
        assert anyone, "the kin noun is kept with no candidate named near it"
        snap = memory.latest()
        names = {e.id: e.name for e in snap.entities()}
        rels = [(names[r.source], r.label, names[r.target]) for r in snap.relations()]
        assert ("Mrs. Barry", "mother of", "Diana Barry") in rels
        naive = NaiveLore(analyses, "fold")
        for i in range(len(memory)):
            assert memory.at(i).relations() == naive.relations(i), f"as of {i}"
        card = next(e for e in snap.entities() if e.name == "Mrs. Barry")
        assert any("mother of Diana Barry" in line for _, line in card.relations)
