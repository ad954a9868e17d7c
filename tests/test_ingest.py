"""Ingest: lore ground truth on the sample story, as-of reads without leakage,
idempotent re-runs, embedder refusal, the lock, and Pride and Prejudice."""

from __future__ import annotations

import json
import re
import shutil
import tomllib
from pathlib import Path

import pytest
from conftest import SAMPLE_DIR, gutenberg_path
from typer.testing import CliRunner

from automuse_rag.cli import app
from automuse_rag.errors import StoreError
from automuse_rag.lore.extract import ChunkLoreReply
from automuse_rag.lore.family import FAMILY_VIA
from automuse_rag.memory.ingest import ingest
from automuse_rag.memory.locking import StoryLock
from automuse_rag.memory.story import StoryMemory, story_dir
from automuse_rag.models.base import Sampling
from automuse_rag.models.fake import HashEmbedder, ScriptedChatModel
from automuse_rag.settings import get_settings

SAMPLE = SAMPLE_DIR / "story.txt"
runner = CliRunner()


def cli(home: Path, *args: str):
    return runner.invoke(app, ["--home", str(home), *args], catch_exceptions=False)


def load_truth() -> dict:
    return tomllib.loads((SAMPLE_DIR / "lore.toml").read_text(encoding="utf-8"))


def _words(text: str) -> str:
    return " ".join(text.split())


def check_lore_truth(entities, story_text: str) -> None:
    """Every character and place of lore.toml is exactly one entity holding every
    alias that occurs in the story; no other entity carries its names."""
    truth = load_truth()
    matched: dict[str, str] = {}
    for item in truth["characters"] + truth["places"]:
        names = [item["name"], *item["aliases"]]
        present = [n for n in names if re.search(rf"(?<!\w){re.escape(n)}(?!\w)", story_text)]
        assert present, f"{item['name']} never occurs in the story"
        holders = {e.id for e in entities for n in present if n in e.aliases}
        assert len(holders) == 1, f"{item['name']}: names {present} spread over entities {holders}"
        ent = next(e for e in entities if e.id in holders)
        assert set(present) <= set(ent.aliases), f"{item['name']}: {sorted(ent.aliases)} lacks some of {present}"
        assert ent.id not in matched.values(), f"{item['name']} merged with {matched}"
        matched[item["name"]] = ent.id
        kind = "character" if item in truth["characters"] else "place"
        assert ent.kind == kind, f"{item['name']} is a {ent.kind}"
    truth_words = {w for item in truth["characters"] for w in item["name"].split()}
    for e in entities:
        if e.id in matched.values():
            continue
        stray = {w for n in e.aliases for w in n.split()} & truth_words
        assert not stray, f"duplicate entity {e.name} ({sorted(e.aliases)}) shares {stray}"


def check_as_of(memory: StoryMemory) -> None:
    """As of chunk i nothing from a later chunk: descriptions, aliases, search hits."""
    latest = memory.latest()
    records = {r.index: r for r in latest.records()}
    texts = {i: _words(r.text) for i, r in records.items()}
    n = len(memory)
    for i in (0, n // 3, n // 2, n - 1):
        snap = memory.at(i)
        for view in snap.entities():
            assert view.mentions and max(view.mentions) <= i
            assert all(c <= i for c, _ in view.descriptions)
            assert all(c <= i for c in view.aliases.values())
        for hit in snap.search("the captain's boat and the island", k=8, kinds=("summary", "mention", "chunk")):
            assert hit.chunk <= i
            if hit.kind == "entity":
                view = next(v for v in snap.entities() if v.id == hit.metadata["entity_id"])
                assert hit.text == view.card()
        g = snap.graph()
        for _, _, data in g.edges(data=True):
            assert max(data["chunks"]) <= i
    # Each description came from the text of the chunk it is filed under.
    for ent in latest.entities():
        for c, desc in ent.descriptions:
            if records[c].summary and desc.endswith("…"):
                desc = desc[:-1]
            assert _words(desc)[:60] in texts[c], f"{ent.name}: description filed under chunk {c} is not from it"


@pytest.fixture(scope="module")
def sample_home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("sample-extractive")
    result = cli(home, "ingest", str(SAMPLE), "--story", "sample", "--llm", "extractive", "--embedder", "hash:64")
    assert result.exit_code == 0, result.output
    return home


def test_sample_extractive_lore_matches_ground_truth(sample_home: Path):
    settings = get_settings(home=sample_home)
    memory = StoryMemory.open(settings, "sample")
    try:
        assert len(memory) == memory.manifest["chunks_total"] > 10
        check_lore_truth(memory.latest().entities(), SAMPLE.read_text(encoding="utf-8"))
        check_as_of(memory)
    finally:
        memory.close()


def test_sample_store_layout_and_collections(sample_home: Path):
    d = sample_home / "stores" / "sample"
    manifest = json.loads((d / "story.json").read_text())
    assert manifest["embedder"] == {"name": "hash:64", "dimension": 64}
    assert manifest["complete"] is True and manifest["llm"] == "extractive"
    memory = StoryMemory.open(get_settings(home=sample_home), "sample")
    try:
        n = len(memory)
        assert memory.store.count("summary") == memory.store.count("chunk") == n
        ents = memory.latest().entities()
        mention_rows = memory.db.execute("SELECT chunk, name FROM mentions").fetchall()
        assert memory.store.count("mention") == len(mention_rows)
        for e in ents:  # every chunk an entity is mentioned in has a mention record of one of its names
            assert set(e.mentions) <= {c for c, name in mention_rows if name in e.aliases}
        for id_, (_, meta) in memory.store.get_all("summary").items():
            assert id_ == f"summary:{meta['chunk']:05d}" and meta["kind"] == "summary" and meta["chapter"] >= 1
        graph = json.loads((d / "graph.json").read_text())
        assert {n["id"] for n in graph["nodes"]} == {e.id for e in ents}
        parts = memory.outline_parts()
        assert parts[0].chapter == 0 and [p.chapter for p in parts[1:]] == [1, 2, 3, 4, 5]
        assert all(p.text for p in parts)
    finally:
        memory.close()


def test_characters_json_and_stories(sample_home: Path):
    result = cli(sample_home, "characters", "--story", "sample", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["mentions"] for r in rows] == sorted((r["mentions"] for r in rows), reverse=True)
    for r in rows:
        assert {"name", "aliases", "kind", "mentions", "first_chunk", "last_chunk", "description"} <= set(r)
        assert r["kind"] in ("character", "place", "thing") and r["first_chunk"] <= r["last_chunk"]
    edith = next(r for r in rows if r["name"] == "Edith Marlowe")
    assert {"Edith", "Miss Marlowe"} <= set(edith["aliases"])
    listed = json.loads(cli(sample_home, "stories", "list", "--json").stdout)
    assert [(s["name"], s["chunks"], s["embedder"]) for s in listed] == [
        ("sample", len(StoryMemory.open(get_settings(home=sample_home), "sample")), "hash:64")
    ]
    assert listed[0]["entities"] == len(rows) and listed[0]["size_bytes"] > 0


def test_rerun_on_finished_story_makes_no_model_calls(sample_home: Path, tmp_path: Path):
    home = tmp_path / "home"  # a copy: a run records its model in the manifest, which other tests read
    shutil.copytree(sample_home, home)
    settings = get_settings(home=home)
    before = StoryMemory.open(settings, "sample")
    snapshot = {k: before.store.get_all(k) for k in ("summary", "mention", "chunk")}
    before.close()
    must_not_call = ScriptedChatModel(default=None, name="fake:forbidden")
    result = ingest(settings, str(SAMPLE), "sample", llm=must_not_call, embedder=HashEmbedder(64), sampling=Sampling())
    assert must_not_call.calls == [] and result.new_chunks == 0 and result.model_calls == 0
    after = StoryMemory.open(settings, "sample")
    assert {k: after.store.get_all(k) for k in ("summary", "mention", "chunk")} == snapshot
    after.close()


def test_other_embedder_is_refused(sample_home: Path):
    result = runner.invoke(
        app,
        ["--home", str(sample_home), "ingest", str(SAMPLE), "--story", "sample", "--llm", "extractive", "--embedder", "hash:32"],
    )
    assert result.exit_code != 0
    assert "embedded with hash:64 (64 dims)" in result.output and "--embedder hash:64" in result.output
    with pytest.raises(StoreError, match="hash:64"):
        StoryMemory.open(get_settings(home=sample_home), "sample", embedder=HashEmbedder(32))


def test_missing_story_is_a_clear_error(tmp_path: Path):
    result = runner.invoke(app, ["--home", str(tmp_path), "characters", "--story", "nothing-here"])
    assert result.exit_code != 0 and "no story" in result.output and "Traceback" not in result.output


def test_second_ingest_while_locked_gets_clear_error(tmp_path: Path):
    settings = get_settings(home=tmp_path)
    with StoryLock(story_dir(settings, "busy"), "busy"):
        result = runner.invoke(
            app, ["--home", str(tmp_path), "ingest", str(SAMPLE), "--story", "busy", "--llm", "extractive", "--embedder", "hash"]
        )
    assert result.exit_code != 0
    assert "being ingested by another process" in result.output and "pid" in result.output


def _scripted_lore(messages, sampling) -> str:
    """A model that names the characters' full names it finds in the passage (and
    merges outline summaries by quoting them)."""
    content = messages[-1]["content"]
    if "Passage (chapter" not in content:
        return "Merged summary: " + " ".join(content.split()[10:40])
    text = content.split("Passage (chapter", 1)[1]
    names = re.findall(r"\b(?:Edith|Zoë|Henry|Walter|Agnes|Samuel) [A-Z][a-z]+", text)
    items = [
        {"name": n, "kind": "character", "aliases": [n.split()[0]], "description": f"{n} is in this passage."} for n in names[:2]
    ]
    relations = [{"source": names[0], "target": names[1], "label": "talks with"}] if len(names) >= 2 else []
    summary = "In this passage " + " ".join(text.split()[5:30])
    return json.dumps(ChunkLoreReply.model_validate({"summary": summary, "items": items, "relations": relations}).model_dump())


def test_model_lore_enriches_ner_and_rerun_is_free(tmp_path: Path):
    settings = get_settings(home=tmp_path)
    model = ScriptedChatModel(_scripted_lore, name="fake:lore")
    result = ingest(settings, str(SAMPLE), "fake", llm=model, embedder=HashEmbedder(32), sampling=Sampling(), size=3000)
    structured = [c for c in model.calls if c[0] == "structured"]
    assert len(structured) == result.chunks
    memory = StoryMemory.open(settings, "fake")
    ents = memory.latest().entities()
    check_lore_truth(ents, SAMPLE.read_text(encoding="utf-8"))
    described = [d for e in ents for _, d in e.descriptions if d.endswith("is in this passage.")]
    assert described, "the model's descriptions were not used"
    rels = memory.latest().relations()
    model_rels = [r for r in rels if not r.via]
    assert model_rels and all(r.label == "talks with" for r in model_rels)
    # Offline relations (dependency parse, Mr./Mrs. couples, kin read by family) are merged in beside the model's.
    assert {r.via for r in rels} - {""} <= {"parse", "names", FAMILY_VIA}
    assert any(r.label == "godfather of" and r.via == "parse" for r in rels)
    g = memory.latest().graph()
    assert any(any(x["label"] == "talks with" for x in d["relations"]) for _, _, d in g.edges(data=True))
    memory.close()
    again = ScriptedChatModel(default=None, name="fake:lore")
    ingest(settings, str(SAMPLE), "fake", llm=again, embedder=HashEmbedder(32), sampling=Sampling(), size=3000)
    assert again.calls == []


def test_invalid_model_output_falls_back_to_extractive(tmp_path: Path):
    settings = get_settings(home=tmp_path)
    model = ScriptedChatModel(default='{"summary": 5}', name="fake:broken")
    result = ingest(settings, str(SAMPLE), "broken", llm=model, embedder=HashEmbedder(16), sampling=Sampling(), size=6000)
    memory = StoryMemory.open(settings, "broken")
    analyses = memory.analyses()
    assert len(analyses) == result.chunks and all(a.fallback and a.model == "extractive" for _, a in analyses)
    assert all(r.summary and _words(r.summary)[:50] in _words(r.text) for r in memory.latest().records())
    check_lore_truth(memory.latest().entities(), SAMPLE.read_text(encoding="utf-8"))
    memory.close()


def test_outline_file_is_stored_and_split(tmp_path: Path):
    outline = tmp_path / "outline.txt"
    outline.write_text("Chapter 1: Edith hears the boat is found.\nChapter 2: The letter.\n", encoding="utf-8")
    result = cli(
        tmp_path,
        "ingest",
        str(SAMPLE),
        "--story",
        "given",
        "--llm",
        "extractive",
        "--embedder",
        "hash:16",
        "--outline",
        str(outline),
        "--size",
        "8000",
    )
    assert result.exit_code == 0, result.output
    memory = StoryMemory.open(get_settings(home=tmp_path), "given")
    assert memory.outline == outline.read_text(encoding="utf-8")
    assert [p.chapter for p in memory.outline_parts()] == [1, 2]
    memory.close()
    missing = runner.invoke(
        app,
        [
            "--home",
            str(tmp_path),
            "ingest",
            str(SAMPLE),
            "--story",
            "given2",
            "--llm",
            "extractive",
            "--embedder",
            "hash:16",
            "--outline",
            str(tmp_path / "nope.txt"),
        ],
    )
    assert missing.exit_code != 0 and "no such file" in missing.output


def test_stories_rm_removes_after_confirmation(tmp_path: Path):
    assert (
        cli(
            tmp_path, "ingest", str(SAMPLE), "--story", "gone", "--llm", "extractive", "--embedder", "hash:16", "--size", "8000"
        ).exit_code
        == 0
    )
    declined = runner.invoke(app, ["--home", str(tmp_path), "stories", "rm", "gone"], input="n\n")
    assert declined.exit_code != 0 and (tmp_path / "stores" / "gone").is_dir()
    accepted = runner.invoke(app, ["--home", str(tmp_path), "stories", "rm", "gone"], input="y\n")
    assert accepted.exit_code == 0 and not (tmp_path / "stores" / "gone").exists()
    assert json.loads(cli(tmp_path, "stories", "list", "--json").stdout) == []


TOP_PP = {
    "Elizabeth": "Elizabeth",
    "Darcy": "Darcy",
    "Jane": "Jane",
    "Bingley": "Mr. Bingley",
    "Wickham": "Wickham",
    "Mr. Collins": "Mr. Collins",
    "Lady Catherine": "Lady Catherine",
}


@pytest.mark.slow
def test_pride_and_prejudice_extractive_top_entities(tmp_path: Path, shared_data: Path):
    book = gutenberg_path(shared_data, 1342)
    # the lore is the embedder's no business: hash vectors spare embedding 4,000 texts with MiniLM
    result = cli(tmp_path, "ingest", str(book), "--story", "pride", "--llm", "extractive", "--embedder", "hash:64", "--json")
    assert result.exit_code == 0, result.output
    memory = StoryMemory.open(get_settings(home=tmp_path), "pride")
    ents = memory.latest().entities()
    top = ents[:20]
    for label, alias in TOP_PP.items():
        holders = [e for e in ents if alias in e.aliases]
        assert len(holders) == 1, f"{label}: {[e.name for e in holders]}"
        assert holders[0] in top, f"{label} ({holders[0].name}, {len(holders[0].mentions)} chunks) not among the top 20"
    ids = [next(e.id for e in ents if alias in e.aliases) for alias in TOP_PP.values()]
    assert len(set(ids)) == len(ids), "two of the main characters were merged"
    bennets = {next(e.id for e in ents if n in e.aliases) for n in ("Mr. Bennet", "Mrs. Bennet")}
    assert len(bennets) == 2
    assert {"Darcy", "Mr. Darcy"} <= set(next(e for e in ents if "Darcy" in e.aliases).aliases)
    memory.close()


def test_graph_round_trips_and_exports_graphml(sample_home: Path, tmp_path: Path):
    import networkx as nx

    from automuse_rag.memory.graph import load_graph

    memory = StoryMemory.open(get_settings(home=sample_home), "sample")
    try:
        g = memory.latest().graph()
        saved = load_graph(sample_home / "stores" / "sample" / "graph.json")
        assert sorted(saved.nodes) == sorted(g.nodes) and sorted(map(sorted, saved.edges)) == sorted(map(sorted, g.edges))
        edith = next(e for e in memory.latest().entities() if e.name == "Edith Marlowe")
        assert g.nodes[edith.id]["mentions"] == len(edith.mentions) and g.degree(edith.id) > 0
        early = memory.at(3).graph()
        assert all(max(d["chunks"]) <= 3 for _, _, d in early.edges(data=True))
    finally:
        memory.close()
    out = tmp_path / "g.graphml"
    assert cli(sample_home, "characters", "--story", "sample", "--graphml", str(out)).exit_code == 0
    back = nx.read_graphml(out)
    assert sorted(back.nodes) == sorted(g.nodes) and back.number_of_edges() == g.number_of_edges()
