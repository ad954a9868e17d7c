"""State facts in memory and ``automuse continuity``: facts are stored with their chunk
and sentence, read as of a position, covered by check, repair and the format 4
upgrade; the command cites both sides of a contradiction and exits as check does."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from pathlib import Path

import pytest
from conftest import cli
from dead_book import DEATH, FOUND, SPEAKS, ingest_dead_book

from automuse_rag.lore.family import FAMILY_ANY, FAMILY_VIA
from automuse_rag.memory.continuity import check_story, report
from automuse_rag.memory.inmemory import InMemoryStory
from automuse_rag.memory.schema import SCHEMA_VERSION
from automuse_rag.memory.story import StoryMemory
from automuse_rag.settings import get_settings


def _story(name: str, chunks: list[tuple[str, list[str], list[dict[str, str]]]]) -> InMemoryStory:
    """An in-memory story of ``chunks`` (text, the people it names, its facts)."""
    from automuse_rag.lore.types import ChunkAnalysis, LoreMention
    from automuse_rag.memory.types import ChunkRecord
    from automuse_rag.models.fake import HashEmbedder

    analyses = [
        (
            ChunkRecord(i, f"{name}:{i}", 1, "ONE", text, text),
            ChunkAnalysis("s", [LoreMention(name=n, labels={"PERSON": 2}, count=2) for n in names], facts=facts),
        )
        for i, (text, names, facts) in enumerate(chunks)
    ]
    return InMemoryStory.from_analyses(name, analyses, HashEmbedder(16))


@pytest.fixture(scope="module")
def dead_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("dead")
    ingest_dead_book(home)
    return home


@pytest.fixture
def dead_home(dead_template: Path, tmp_path: Path) -> Path:
    shutil.copytree(dead_template / "stores", tmp_path / "stores", ignore=shutil.ignore_patterns(".locks"))
    return tmp_path


def _facts(home: Path) -> dict[int, list[tuple[str, str, int, str, str]]]:
    """Each position's facts in force: (entity shown, kind, chunk, sentence, name)."""
    with StoryMemory.open(get_settings(home=home), "dead") as memory:
        return {
            at: [(k.display, k.fact.kind, k.fact.chunk, k.fact.sentence, k.fact.name) for k in memory.at(at).facts()]
            for at in range(-1, len(memory))
        }


def _db(home: Path) -> sqlite3.Connection:
    return sqlite3.connect(home / "stores" / "dead" / "state.sqlite")


def test_a_death_is_stored_with_its_chunk_and_known_from_it_on(dead_template: Path) -> None:
    dead = ("Henry Clerval", "dead", 1, DEATH, "Henry Clerval")
    deaths = {at: [f for f in facts if f[1] == "dead"] for at, facts in _facts(dead_template).items()}
    assert deaths == {-1: [], 0: [], 1: [dead], 2: [dead], 3: [dead]}
    assert all(f[2] <= at for at, facts in _facts(dead_template).items() for f in facts)  # none before its chunk
    db = _db(dead_template)
    assert db.execute("SELECT chunk, name, kind, value, sentence FROM facts WHERE kind = 'dead'").fetchall() == [
        (1, "Henry Clerval", "dead", "dead", DEATH)
    ]
    db.close()


def test_continuity_cites_both_sides_and_exits_1(dead_template: Path) -> None:
    result = cli(dead_template, "continuity", "--story", "dead", "--json")
    assert result.exit_code == 1, result.output
    assert json.loads(result.stdout) == FOUND
    table = cli(dead_template, "continuity", "--story", "dead")
    assert table.exit_code == 1 and "dead: 1 contradictions" in table.stdout and "dead_acts" in table.stdout
    before = cli(dead_template, "continuity", "--story", "dead", "--to", "2", "--json")  # the death alone
    assert before.exit_code == 0 and json.loads(before.stdout) == []
    assert cli(dead_template, "continuity", "--story", "dead", "--from", "2", "--to", "2").exit_code == 0
    with StoryMemory.open(get_settings(home=dead_template), "dead") as memory:
        assert [(c.chunk, c.text, c.fact.chunk) for c in check_story(memory, 3, 3)] == [(3, SPEAKS, 1)]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--story", "nope"), "error: no story 'nope'"),
        (("--story", "dead", "--from", "9"), "error: --from 9 is outside story 'dead', which has chunks 0..3"),
        (("--story", "dead", "--to", "-1"), "error: --to -1 is outside story 'dead', which has chunks 0..3"),
        (("--story", "dead", "--from", "3", "--to", "1"), "error: --from 3 is after --to 1"),
    ],
)
def test_a_bad_story_or_range_is_one_line(dead_template: Path, args: tuple[str, ...], message: str) -> None:
    result = cli(dead_template, "continuity", *args)
    assert result.exit_code == 2 and result.output.startswith(message) and result.output.count("\n") == 1, result.output


def test_check_finds_changed_facts_and_repair_restores_them(dead_home: Path) -> None:
    before = _facts(dead_home)
    db = _db(dead_home)
    db.execute("DELETE FROM facts WHERE chunk = 1")
    db.execute("INSERT INTO facts VALUES (2, 99, 'Victor Frankenstein', 'dead', 'dead', 'Victor Frankenstein died.')")
    db.commit()
    db.close()
    check = cli(dead_home, "check", "--story", "dead")
    assert check.exit_code == 1
    assert "problem: state.sqlite: the facts of 2 chunks differ from their stored analyses (chunks 1, 2)" in check.output
    assert cli(dead_home, "repair", "--story", "dead").exit_code == 0
    assert cli(dead_home, "check", "--story", "dead").exit_code == 0
    assert _facts(dead_home) == before


def test_a_format_3_store_is_upgraded_by_extracting_its_facts_again(dead_home: Path) -> None:
    before = _facts(dead_home)
    db = _db(dead_home)
    for idx, raw in db.execute("SELECT idx, analysis FROM chunks").fetchall():
        analysis = json.loads(raw)
        del analysis["facts"]
        db.execute("UPDATE chunks SET analysis = ? WHERE idx = ?", (json.dumps(analysis), idx))
    db.execute("DROP TABLE facts")
    db.execute("PRAGMA user_version=3")
    db.commit()
    db.close()
    refused = cli(dead_home, "continuity", "--story", "dead")
    assert refused.exit_code == 2 and "store format 3" in refused.output and "automuse repair --story dead" in refused.output
    repaired = cli(dead_home, "repair", "--story", "dead")
    assert repaired.exit_code == 0, repaired.output
    assert f"upgraded story dead from store format 3 to {SCHEMA_VERSION}" in repaired.output
    assert re.search(r"extracted [1-9]\d* state facts from 4 stored chunks", repaired.output), repaired.output
    assert _facts(dead_home) == before
    assert cli(dead_home, "check", "--story", "dead").exit_code == 0
    assert json.loads(cli(dead_home, "continuity", "--story", "dead", "--json").stdout) == FOUND


def test_cards_in_prompts_and_characters_show_each_fact_with_its_chunk(dead_template: Path, tmp_path: Path) -> None:
    line = re.compile(r"Henry Clerval: (?:[^.;]+ \(chunk \d+\); )*died \(chunk 1\)\.")  # after "male (chunk 0)"
    at3 = cli(dead_template, "prompt", "--story", "dead", "--at", "3", "--llm", "extractive", "--json")
    assert at3.exit_code == 0 and line.search(json.loads(at3.stdout)["sections"]["lore"])
    at0 = cli(dead_template, "prompt", "--story", "dead", "--at", "0", "--llm", "extractive", "--json")
    assert at0.exit_code == 0 and "died (chunk" not in at0.stdout  # not known yet
    rows = {r["name"]: r for r in json.loads(cli(dead_template, "characters", "--story", "dead", "--json").stdout)}
    died = {"kind": "dead", "value": "dead", "chunk": 1, "sentence": DEATH}
    assert died in rows["Henry Clerval"]["facts"]
    assert all(f["kind"] != "dead" for name, r in rows.items() if name != "Henry Clerval" for f in r["facts"])
    early = json.loads(cli(dead_template, "characters", "--story", "dead", "--as-of", "0", "--json").stdout)
    assert all(f["chunk"] == 0 and f["kind"] != "dead" for r in early for f in r["facts"])
    out = tmp_path / "d.jsonl"
    data = cli(dead_template, "dataset", "--story", "dead", "--out", str(out), "--llm", "extractive", "--budget", "900")
    assert data.exit_code == 0, data.output
    meta = json.loads(out.with_suffix(".meta.json").read_text(encoding="utf-8"))
    assert meta["leakage_checked"] > 0 and meta["leakage_violations"] == 0
    assert "died (chunk 1)" in out.read_text(encoding="utf-8") + out.with_suffix(".val.jsonl").read_text(encoding="utf-8")


def test_the_web_page_lists_contradictions_and_shows_facts_on_cards(dead_template: Path) -> None:
    from fastapi.testclient import TestClient

    from automuse_rag.web import open_app

    app = open_app(get_settings(home=dead_template), "dead", llm="extractive", budget=900)
    with TestClient(app) as web:
        rows = web.get("/api/continuity", params={"at": 3}).json()
        assert rows == [{**FOUND[0], "fact": {**FOUND[0]["fact"], "chapter": 1}}]  # both citations, with chapters
        assert web.get("/api/continuity", params={"at": 2}).json() == []  # the sentence is not read yet
        assert web.get("/api/continuity").json() == rows

        def clerval(at: int) -> dict:
            return next(c for c in web.get("/api/characters", params={"at": at}).json() if c["name"] == "Henry Clerval")

        fact = {"kind": "dead", "value": "dead", "text": "died", "sentence": DEATH, "chunk": 1, "chapter": 1}
        assert fact not in clerval(0)["facts"] and fact in clerval(1)["facts"] and fact in clerval(3)["facts"]
        page, script = web.get("/").text, web.get("/static/app.js").text
        assert 'data-view="continuity"' in page and 'id="continuity-table"' in page
        assert "/api/continuity" in script and "data-highlight" in script


def test_a_fact_stated_under_one_name_holds_the_entity_it_joins_later() -> None:
    """ "Mina is dead" at chunk 0; at chunk 1 "Mina Harker" is the same entity, so her
    smiling there breaks the fact, cited as Mina Harker's with its own chunk and sentence;
    nothing is checked against a fact stated after the chunk."""
    from automuse_rag.lore.types import ChunkAnalysis, LoreMention
    from automuse_rag.memory.inmemory import InMemoryStory
    from automuse_rag.memory.types import ChunkRecord
    from automuse_rag.models.fake import HashEmbedder

    def person(name: str) -> LoreMention:
        return LoreMention(name=name, labels={"PERSON": 2}, count=2)

    died = {"kind": "dead", "name": "Mina", "value": "dead", "sentence": "Mina is dead."}
    chunks = [
        ("Jonathan came home in the rain. Mina is dead. Jonathan wept.", [person("Mina"), person("Jonathan")], [died]),
        ("Mina Harker smiled at Jonathan across the table.", [person("Mina Harker"), person("Jonathan")], []),
    ]
    story = InMemoryStory.from_analyses(
        "mina",
        [
            (ChunkRecord(i, f"mina:{i}", 1, "ONE", text, text), ChunkAnalysis("s", ms, facts=fs))
            for i, (text, ms, fs) in enumerate(chunks)
        ],
        HashEmbedder(16),
    )
    assert [(k.display, k.fact.chunk) for k in story.at(1).facts()] == [("Mina Harker", 0)]
    found = [(c.chunk, c.display, c.text, c.fact.chunk, c.fact.sentence) for c in check_story(story)]
    assert found == [(1, "Mina Harker", chunks[1][0], 0, "Mina is dead.")]
    assert check_story(story, 0, 0) == []  # the death's own chunk: nothing known before it


def test_a_titled_name_no_entity_has_is_no_ones() -> None:
    """ "Mrs. Shimerda" is not the dead Mr. Shimerda whose bare "Shimerda" is in it
    (a false alarm on My Antonia, a novel outside the benchmark); an untitled name
    still finds the entity whose name is in it."""
    from automuse_rag.lore.types import ChunkAnalysis, LoreMention
    from automuse_rag.memory.continuity import resolver
    from automuse_rag.memory.inmemory import InMemoryStory
    from automuse_rag.memory.types import ChunkRecord
    from automuse_rag.models.fake import HashEmbedder

    def person(name: str) -> LoreMention:
        return LoreMention(name=name, labels={"PERSON": 2}, count=2)

    text = "Mr. Shimerda came in. Shimerda sat down. Jake Marpole laughed."
    story = InMemoryStory.from_analyses(
        "shim",
        [
            (
                ChunkRecord(0, "shim:0", 1, "ONE", text, text),
                ChunkAnalysis("s", [person("Mr. Shimerda"), person("Shimerda"), person("Jake Marpole")]),
            )
        ],
        HashEmbedder(16),
    )
    resolve = resolver(story.at(0))
    assert resolve("Mr. Shimerda") == resolve("Shimerda") is not None
    assert resolve("Mrs. Shimerda") is None
    assert resolve("Old Jake Marpole") == resolve("Jake Marpole") is not None


def test_a_fact_the_story_breaks_again_is_reported_once_with_the_later_chunks(tmp_path: Path) -> None:
    """A death broken in one chunk and again in two later ones is one report, at the
    first chunk, listing the later ones: the story has gone on without the fact, so
    repeating it chunk by chunk says nothing new (on Mill on the Floss, a novel outside
    the benchmark, one misread death gave 15 reports, one per chunk in which the woman
    spoke). Broken in two chunks of a range, it is reported at both."""
    died = {"kind": "dead", "name": "Mina", "value": "dead", "sentence": "Mina is dead."}
    texts = [
        "Jonathan came home in the rain. Mina is dead. Jonathan wept.",
        "Mina smiled at Jonathan across the table.",
        "Jonathan walked to the church alone.",
        "Mina smiled at Jonathan by the window.",
        '"Come in," said Mina.',
    ]
    story = _story(
        "mina", [(t, [n for n in ("Mina", "Jonathan") if n in t], [died] if i == 0 else []) for i, t in enumerate(texts)]
    )
    found = [(c.chunk, c.text, c.fact.chunk, c.again) for c in check_story(story)]
    assert found == [(1, texts[1], 0, (3, 4))]
    assert [r["again"] for r in report(story, check_story(story))] == [[3, 4]]
    assert [(c.chunk, c.again) for c in check_story(story, 2)] == [(3, ()), (4, ())]
    assert [(c.chunk, c.again) for c in check_story(story, 4, 4)] == [(4, ())]
    # the web page at chunk 3 folds only what is read by then, as --to 3 does: chunk 4
    # must not show through
    from fastapi.testclient import TestClient

    from automuse_rag.web.app import create_app

    with TestClient(create_app(story, settings=get_settings(home=tmp_path), llm="extractive")) as web:
        at3 = web.get("/api/continuity", params={"at": 3}).json()
        at4 = web.get("/api/continuity", params={"at": 4}).json()
    assert [(r["chunk"], r["again"]) for r in at3] == [(c.chunk, list(c.again)) for c in check_story(story, 0, 3)]
    assert [(r["chunk"], r["again"]) for r in at3] == [(1, []), (3, [])]
    assert [(r["chunk"], r["again"]) for r in at4] == [(1, [3, 4])]


def test_the_checker_finds_the_names_of_those_with_facts_where_ner_does_not() -> None:
    """spaCy's small model often tags no one in a short sentence ("Clerval came up the
    stairs", "Blind Pew came tapping along the quay", "Marilla tucked a loose strand of
    her bright red hair": injected contradictions of the development half it missed).
    The checker knows who has facts, so it looks for their names itself: a name of such
    an entity, written as the story writes it, is that person whatever NER says."""
    died = {"kind": "dead", "name": "Henry Clerval", "value": "dead", "sentence": "Henry Clerval is dead."}
    chunks = [
        ("Victor Frankenstein read the letter. Henry Clerval is dead. Clerval had been his friend.", [died]),
        ("Clerval came up the stairs and smiled at me.", []),
        ("The clerk came up the stairs and smiled at me.", []),
    ]
    people = ("Victor Frankenstein", "Henry Clerval", "Clerval")
    story = _story("clerval", [(t, [n for n in people if n in t], fs) for t, fs in chunks])
    assert {n for e in story.at(0).entities() for n in e.names()} >= {"Henry Clerval", "Clerval"}
    found = [(c.chunk, c.display, c.text, c.fact.chunk) for c in check_story(story)]
    assert found == [(1, "Henry Clerval", chunks[1][0], 0)]


def test_each_death_stated_of_an_entity_counts_not_only_its_first() -> None:
    """A title and a surname alone ("Mr. Gatsby's dead") hold only that title's acts to a
    death while the family has others (here Mrs. Gatsby); a later "Jay Gatsby's death"
    holds every name of his. Checking only an entity's first death missed "Gatsby came
    down the steps" after both."""
    first = {"kind": "dead", "name": "Mr. Gatsby", "value": "dead", "sentence": "Mr. Gatsby's dead."}
    second = {"kind": "dead", "name": "Jay Gatsby", "value": "dead", "sentence": "After Jay Gatsby's death, the East."}
    chunks = [
        (
            "Jay Gatsby gave parties. Mrs. Gatsby wrote. Nick Carraway took the call. Mr. Gatsby's dead.",
            ["Jay Gatsby", "Mr. Gatsby", "Mrs. Gatsby"],
            [first],
        ),
        ("After Jay Gatsby's death, the East was haunted for Nick Carraway.", ["Jay Gatsby"], [second]),
        ("Gatsby came down the steps of his house and waved to Nick Carraway across the lawn.", ["Gatsby"], []),
    ]
    story = _story("gatsby", [(t, [*names, "Nick Carraway"], fs) for t, names, fs in chunks])
    found = [(c.chunk, c.display, c.text, c.fact.chunk) for c in check_story(story)]
    assert found == [(2, "Jay Gatsby", chunks[2][0], 1)]


def test_a_chunk_cut_inside_a_speech_reads_it_as_speech() -> None:
    """A chunk opening in the middle of a speech begun in the chunk before holds no
    quotation mark: read alone, the dead man's act the speaker recalls is narration
    (Anne of Green Gables, development half: "Mr. Thomas smashed it one night", in
    Anne's account of her years with the Thomases). The chunk before says the speech is
    open; a chunk after a closed one is narration as before."""
    died = {"kind": "dead", "name": "Mr. Thomas", "value": "dead", "sentence": "Mr. Thomas was killed."}
    act = "Mr. Thomas smashed it one night when he was slightly intoxicated."
    recalled = "One of the doors was broken. " + act
    chunks = [
        ("Marilla sewed. Mr. Thomas was killed under a train, said Marilla.", ["Mr. Thomas"], [died]),
        ("Anne sat by the window.\n\n“When I lived with Mrs. Thomas she had a bookcase.", ["Mrs. Thomas"], []),
        (recalled, ["Mr. Thomas"], []),
        ("Anne sat by the window.\n\n“When I lived with Mrs. Thomas she had a bookcase,” said Anne.", ["Mrs. Thomas"], []),
        (recalled, ["Mr. Thomas"], []),
    ]
    story = _story("thomas", chunks)
    assert [(c.chunk, c.text) for c in check_story(story, fold=False)] == [(4, act)]


def test_a_fact_follows_its_name_when_the_name_leaves_its_entity() -> None:
    """Pride and Prejudice (development half): "Mrs. Hurst" was one entity with a bare
    "Hurst" until "Mr. Hurst" came and took it; her gender stayed with the entity, and
    the checker held Mr. Hurst to being a woman. A fact is the name's it was stated of:
    it goes with that name to the entity that holds it at the chunk checked."""
    woman = {"kind": "gender", "name": "Mrs. Hurst", "value": "female", "sentence": "Mr. Darcy danced with Mrs. Hurst."}
    died = {"kind": "dead", "name": "Mrs. Hurst", "value": "dead", "sentence": "Mrs. Hurst is dead."}
    chunks = [
        ("Hurst was at the window.", ["Hurst"], []),
        ("Mr. Darcy danced once with Mrs. Hurst.", ["Mrs. Hurst", "Mr. Darcy"], [woman]),
        ("Hurst was at the window. Mrs. Hurst is dead.", ["Hurst", "Mrs. Hurst"], [died]),
        ("As for Mr. Hurst, he was an indolent man who lived only to eat.", ["Mr. Hurst"], []),
        ("Mrs. Hurst smiled at Mr. Darcy across the table.", ["Mrs. Hurst", "Mr. Darcy"], []),
    ]
    story = _story("hurst", chunks)
    assert {"Mrs. Hurst", "Hurst"} <= set(next(e for e in story.at(2).entities() if e.id == "hurst").names())
    assert "Mrs. Hurst" not in next(e for e in story.at(3).entities() if e.id == "hurst").names()
    found = [(c.chunk, c.kind, c.display) for c in check_story(story)]
    assert found == [(4, "dead_acts", "Mrs. Hurst")]


def _kin_story(relations: list[dict[str, str]], later: str) -> InMemoryStory:
    """Robert and William Cass named at chunk 0 with ``relations`` read there; chunk 1
    says ``later`` of them."""
    from automuse_rag.lore.types import ChunkAnalysis, LoreMention
    from automuse_rag.memory.types import ChunkRecord
    from automuse_rag.models.fake import HashEmbedder

    people = [LoreMention(name=n, labels={"PERSON": 2}, count=2) for n in ("Robert Cass", "William Cass")]
    chunks = [
        ("Robert Cass and William Cass rode out to the Stone-pits. William hated the road.", relations),
        (later, []),
    ]
    return InMemoryStory.from_analyses(
        "cass",
        [
            (
                ChunkRecord(i, f"cass:{i}", 1, "ONE", text, text),
                ChunkAnalysis("s", people, relations=rels, distinct=[("Robert Cass", "William Cass")]),
            )
            for i, (text, rels) in enumerate(chunks)
        ],
        HashEmbedder(16),
    )


BROTHER = "William Cass, whose brother Robert Cass was a spiteful fellow, said nothing."
COUSIN = "William Cass thought of his cousin Robert Cass, and wondered where the fellow had got to."


def test_a_kin_tie_the_relations_hold_is_a_fact_the_story_is_held_to() -> None:
    """A tie read off a sentence (a relation, not a stated fact) is known from its chunk
    on: "his cousin Robert" after "whose brother Robert" is reported, citing the
    sentence the tie was read from."""
    said = {"source": "Robert Cass", "target": "William Cass", "label": "brother of", "via": "parse", "evidence": BROTHER}
    story = _kin_story([said], COUSIN)
    found = [(c.chunk, c.kind, c.display, c.text, c.fact.chunk, c.fact.sentence) for c in check_story(story)]
    assert found == [(1, "kin", "William Cass", COUSIN, 0, BROTHER)]
    # the tie read by the family rule, with no one named near "his brother" (lore/family.py)
    anyone = {
        "source": FAMILY_ANY,
        "target": "William Cass",
        "label": "brother of",
        "via": FAMILY_VIA,
        "evidence": "He envied his brother.",
    }
    found = [(c.kind, c.fact.sentence) for c in check_story(_kin_story([anyone], COUSIN))]
    assert found == [("kin", "He envied his brother.")]
    # two exclusive bonds read for the pair: the story has not settled it, and holds to neither
    husband = {**said, "label": "husband of", "evidence": "Robert Cass, her husband, came."}
    assert check_story(_kin_story([said, husband], COUSIN)) == []
    # a consistent later mention is none
    assert check_story(_kin_story([said], "William Cass thought of his brother Robert Cass, and sighed.")) == []


def test_generation_refuses_to_break_a_tie_the_relations_hold() -> None:
    from automuse_rag.generate.continuity import contradictions
    from automuse_rag.lore.ner import get_nlp

    said = {"source": "Robert Cass", "target": "William Cass", "label": "brother of", "via": "parse", "evidence": BROTHER}
    snap = _kin_story([said], "Nothing happened.").at(0)
    found = contradictions(COUSIN, 1, snap, get_nlp())
    assert [(c.kind, c.fact.chunk) for c in found] == [("kin", 0)]
