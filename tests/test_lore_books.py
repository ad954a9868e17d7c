"""Lore against hand-written ground truth: nicknames and namesakes on shared books,
offline relations and card descriptions on the sample story (memory/evaluate.py).

Each book is analysed once per session, as an extractive ingest does (spaCy NER and
the dependency parse, no store): the sample in a few seconds, Pride and Prejudice and
The Great Gatsby in about 40 s together on 2 cores, Frankenstein and Alice in about
30 s more.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import REPO, SAMPLE_DIR, gutenberg_path

from automuse_rag.lore.family import FAMILY_VIA
from automuse_rag.memory.evaluate import (
    accepted,
    analyse_book,
    entity_of,
    load_cast,
    lore_of,
    relation_recall,
    score_cast,
)
from automuse_rag.settings import get_settings

_CACHE: dict[str, tuple] = {}


def lore(book: str, text_path: Path, cast_path: Path, tmp_path_factory):
    if book not in _CACHE:
        settings = get_settings(home=tmp_path_factory.mktemp(f"lore-{book}"))
        analyses = analyse_book(str(text_path), settings)
        entities, relations = lore_of(analyses)
        _CACHE[book] = (analyses, entities, relations, text_path.read_text(encoding="utf-8"), load_cast(cast_path))
    return _CACHE[book]


@pytest.fixture(scope="session")
def sample(tmp_path_factory):
    return lore("sample", SAMPLE_DIR / "story.txt", SAMPLE_DIR / "lore.toml", tmp_path_factory)


def _gutenberg(book_id: int, shared_data, tmp_path_factory):
    cast = REPO / "books" / "casts" / f"pg{book_id}.toml"
    return lore(f"pg{book_id}", gutenberg_path(shared_data, book_id), cast, tmp_path_factory)


@pytest.fixture(scope="session")
def pride(shared_data, tmp_path_factory):
    return _gutenberg(1342, shared_data, tmp_path_factory)


@pytest.fixture(scope="session")
def gatsby(shared_data, tmp_path_factory):
    return _gutenberg(64317, shared_data, tmp_path_factory)


@pytest.fixture(scope="session")
def frankenstein(shared_data, tmp_path_factory):
    return _gutenberg(84, shared_data, tmp_path_factory)


@pytest.fixture(scope="session")
def alice(shared_data, tmp_path_factory):
    return _gutenberg(11, shared_data, tmp_path_factory)


def holder(entities, name: str):
    found = [e for e in entities if name in e.aliases]
    assert len(found) == 1, f"{name!r} is in {len(found)} entities"
    return found[0].id


def test_sample_cast_is_one_entity_each(sample):
    _, entities, _, text, cast = sample
    score = score_cast(entities, cast, text)
    assert score.exact == score.members, (score.splits, score.merges, score.missing)
    assert score.precision == 1.0


def test_sample_offline_relations_match_the_ground_truth(sample):
    _, entities, relations, text, cast = sample
    n, found = relation_recall(entities, relations, cast, text, via=None)
    assert "Thomas Reddick godfather of Edith Marlowe" in found  # "Captain Reddick was her godfather"
    assert "Samuel Greaves plays chess with Thomas Reddick" in found  # "Dr. Greaves, who had played chess with Captain Reddick"
    assert n >= 2, found
    # Precision: every offline relation between two cast characters states a true relation.
    members = {m.name: entity_of(entities, m, text) for m in cast.members}
    ids = {e.id: name for name, e in members.items() if e is not None}
    for r in relations:
        if r.source in ids and r.target in ids:
            pair = {ids[r.source], ids[r.target]}
            assert any(pair == {t.source, t.target} and any(k in r.label for k in t.keywords) for t in cast.relations), (
                f"{ids[r.source]} {r.label} {ids[r.target]} is not in lore.toml"
            )
    assert all(r.via in ("parse", "names", FAMILY_VIA) for r in relations)


def test_sample_cards_describe_their_entity(sample):
    _, entities, _, text, cast = sample
    verdicts = {m.name: accepted(entity_of(entities, m, text), m) for m in cast.members}
    reddick = entity_of(entities, next(m for m in cast.members if m.name == "Thomas Reddick"), text)
    assert reddick.description.startswith("Captain Reddick, who had kept the light at Kestrel Point")
    assert "Henry Dunmore came into the room" not in reddick.card()
    assert verdicts["Thomas Reddick"][0] and verdicts["Edith Marlowe"][0] and verdicts["Zoë Harland"][0]
    assert sum(ok for ok, _ in verdicts.values()) >= len(verdicts) // 2, verdicts
    # As of chunk i a card shows nothing later: the introduction is in the first chunk.
    early = reddick.at(reddick.first_chunk)
    assert early is not None and early.description == reddick.description
    assert "godfather of Edith Marlowe" in reddick.at(max(c for c, _ in reddick.relations)).card()
    assert not reddick.at(0).relations


@pytest.mark.slow
def test_pride_and_prejudice_nicknames_and_namesakes(pride):
    _, entities, relations, text, cast = pride
    lizzy = holder(entities, "Elizabeth Bennet")
    assert holder(entities, "Lizzy") == holder(entities, "Eliza") == holder(entities, "Miss Eliza Bennet") == lizzy
    assert holder(entities, "Mr. Bennet") != holder(entities, "Mrs. Bennet")
    assert len({holder(entities, n) for n in ("Mr. Bennet", "Mrs. Bennet", "Jane", "Lydia", "Kitty", "Mary")} | {lizzy}) == 7
    assert holder(entities, "Miss Darcy") != holder(entities, "Mr. Darcy")
    assert holder(entities, "Kitty") != holder(entities, "Lady Catherine")
    assert holder(entities, "Louisa") != lizzy  # "Louisa" is a nickname source of "Eliza", not of Elizabeth
    assert holder(entities, "Colonel Fitzwilliam") != holder(entities, "Mr. Darcy")
    assert holder(entities, "Sir William") == holder(entities, "Sir William Lucas")  # not William Goulding
    assert holder(entities, "Jane") == holder(entities, "Miss Jane Bennet") != holder(entities, "Jane Austen")
    # the eldest: her younger sisters are "Miss Elizabeth" and "Miss Lydia"
    assert holder(entities, "Miss Bennet") == holder(entities, "Jane") != lizzy
    # her letter signs "Lydia Wickham" before the text ever writes "Miss Lydia Bennet"
    lydia = holder(entities, "Lydia")
    assert holder(entities, "Lydia Wickham") == holder(entities, "Miss Lydia Bennet") == holder(entities, "Mrs. Wickham") == lydia
    assert holder(entities, "Mr. Wickham") != lydia
    score = score_cast(entities, cast, text)
    assert not score.merges, score.merges
    ids = {e.id: e for e in entities}
    couple = [r for r in relations if r.label == "wife of" and ids[r.source].name == "Mrs. Bennet"]
    assert couple and ids[couple[0].target].name == "Mr. Bennet"


@pytest.mark.slow
def test_gatsby_nicknames_and_titles(gatsby):
    _, entities, _, text, cast = gatsby
    assert holder(entities, "Mr. Thomas Buchanan") == holder(entities, "Tom")  # Tom <-> Thomas, shared surname
    assert holder(entities, "Mrs. Wilson") == holder(entities, "Myrtle")  # George Wilson is a man
    assert holder(entities, "George B. Wilson") == holder(entities, "Wilson")  # middle initial
    assert holder(entities, "Daisy") != holder(entities, "Myrtle")
    assert not score_cast(entities, cast, text).merges
    # Gatsby's father is never taken for Gatsby. Since the census lists make "Henry" a
    # man's name, "Mr. Gatz" has two men to choose from and joins neither (a regression
    # on this development book, accepted: see issue 27's note; a scene rule among men
    # merged two other main characters of the development half).
    assert holder(entities, "Mr. Gatz") != holder(entities, "James Gatz")
    assert holder(entities, "Henry C. Gatz") != holder(entities, "James Gatz")
    # "James Gatz—that was really, or at least legally, his name." opens a chunk; "his" is
    # Gatsby, named at the end of the previous chunk ("Gatsby’s notoriety")
    assert holder(entities, "James Gatz") == holder(entities, "Jay Gatsby")
    # the narrator, named only to his face: “..., Nick,” he advised me / “This is Mr. Carraway,” I said
    assert holder(entities, "Nick") == holder(entities, "Mr. Carraway") != holder(entities, "Tom")


@pytest.mark.slow
def test_frankenstein_initial_and_surname(frankenstein):
    _, entities, _, text, cast = frankenstein
    # The letters are signed "R. Walton"; "Robert Walton" once; then bare "Walton".
    assert holder(entities, "R. Walton") == holder(entities, "Robert Walton") == holder(entities, "Walton")
    # "To Mrs. Saville, England." then "There, Margaret, the sun is for ever visible"
    assert holder(entities, "Mrs. Saville") == holder(entities, "Margaret") != holder(entities, "R. Walton")
    # the narrator, named only to his face: “My dear Frankenstein,” exclaimed Henry, when he
    # perceived me weep / “Welcome, my dearest Victor,” said he (Ernest, welcoming me)
    assert holder(entities, "Victor") == holder(entities, "Frankenstein") != holder(entities, "R. Walton")
    assert holder(entities, "Frankenstein") != holder(entities, "William") != holder(entities, "Ernest")
    assert not score_cast(entities, cast, text).merges


@pytest.mark.slow
def test_alice_speakers_are_characters(alice):
    _, entities, _, text, cast = alice
    kinds = {e.id: e.kind for e in entities}
    for name in ("Queen", "King", "Duchess", "Mock Turtle", "Hatter", "Gryphon"):
        assert kinds[holder(entities, name)] == "character", name
    score = score_cast(entities, cast, text)
    assert score.main_exact == score.main, score.main_not_exact
