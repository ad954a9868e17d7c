"""``automuse serve``'s JSON API through the ASGI test client (httpx), over the sample
story ingested for real, plus the server's defaults (read-only, 127.0.0.1)."""

from __future__ import annotations

import hashlib
import json
import re
import socket
import tomllib
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import SAMPLE_DIR
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from automuse_rag.ask import answer_question
from automuse_rag.books import load_book
from automuse_rag.cli import app as cli_app
from automuse_rag.memory.story import StoryMemory
from automuse_rag.settings import get_settings
from automuse_rag.text.chunk import chunk_book
from automuse_rag.web import open_app

runner = CliRunner()
POSITIONS = (-1, 0, 4, 11, 30)


# Ground truth from the book and books/sample/lore.toml, independent of the store.
LORE = tomllib.loads((SAMPLE_DIR / "lore.toml").read_text(encoding="utf-8"))
KNOWN = {p["name"]: [p["name"], *p["aliases"]] for p in LORE["characters"] + LORE["places"]}


def named(text: str, names: list[str]) -> bool:
    return any(re.search(rf"(?<!\w){re.escape(n)}(?!\w)", text) for n in names)


def first_named(texts: list[str], names: list[str]) -> int:
    return next(i for i, text in enumerate(texts) if named(text, names))


def card_names(card: dict) -> list[str]:
    return [card["name"], *(a["name"] if isinstance(a, dict) else a for a in card["aliases"])]


def lore_names(cards: list[dict]) -> set[str]:
    """The lore.toml people and places that some card goes by."""
    shown = {n for c in cards for n in card_names(c)}
    return {name for name, names in KNOWN.items() if shown & set(names)}


@pytest.fixture(scope="module")
def texts(sample_home: Path) -> list[str]:
    """The sample story's chunks, cut from the book as ingest cuts it."""
    cfg = get_settings(home=sample_home)
    return [c.text for c in chunk_book(load_book(str(SAMPLE_DIR / "story.txt"), cfg), "sample", size=cfg.chunk_size)]


def store_files(home: Path) -> dict[str, str]:
    """Hashes of the story store's own files (Chroma's directory aside: Chroma rewrites
    its index files whenever a collection is opened, even to read)."""
    root = home / "stores" / "sample"
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "chroma" not in p.parts and "compare" not in p.parts
    }


@pytest.fixture(scope="module")
def web(sample_home: Path):
    before = store_files(sample_home)
    app = open_app(get_settings(home=sample_home), "sample", llm="extractive", budget=1024)
    with TestClient(app) as client:
        client.store_before = before  # type: ignore[attr-defined]
        yield client


@pytest.fixture(scope="module")
def story(sample_home: Path):
    mem = StoryMemory.open(get_settings(home=sample_home), "sample")
    yield mem
    mem.close()


def test_characters_are_the_people_and_places_named_by_i(web: TestClient, texts: list[str]) -> None:
    """Checked against the book and books/sample/lore.toml, not the store: nobody is
    known before the story names them, every mention is a chunk whose text names the
    card, and the whole cast and its places are known at the end."""
    first = {name: first_named(texts, names) for name, names in KNOWN.items()}
    assert min(first.values()) == 0 and max(first.values()) == 4  # introductions within POSITIONS' reach
    for at in POSITIONS:
        cards = web.get("/api/characters", params={"at": at}).json()
        assert isinstance(cards, list)
        if at < 0:
            assert cards == []
            continue
        assert lore_names(cards) <= {name for name, f in first.items() if f <= at}, at
        for c in cards:
            assert all(named(texts[m], card_names(c)) for m in c["mention_chunks"]), (at, c["name"])
            refs = [
                c["first_chunk"],
                c["last_chunk"],
                *c["mention_chunks"],
                *(a["chunk"] for a in c["aliases"]),
                *(d["chunk"] for d in c["descriptions"]),
            ]
            assert max(refs) <= at
    assert lore_names(web.get("/api/characters", params={"at": len(texts) - 1}).json()) == set(KNOWN)
    assert "Arthur Blackwood" not in lore_names(web.get("/api/characters", params={"at": first["Arthur Blackwood"] - 1}).json())


def test_characters_search_and_kind(web: TestClient) -> None:
    everyone = web.get("/api/characters").json()
    places = web.get("/api/characters", params={"kind": "place"}).json()
    assert places and {c["kind"] for c in places} == {"place"} and len(places) < len(everyone)
    alias = next(a["name"] for c in everyone for a in c["aliases"])
    found = web.get("/api/characters", params={"q": alias.lower()}).json()
    assert any(alias in [a["name"] for a in c["aliases"]] for c in found) and len(found) < len(everyone)


def test_graph_at_i_uses_nothing_later(web: TestClient, texts: list[str]) -> None:
    """Nodes are the characters of the same position; every edge's chunks name both
    ends in the book's text; at the end lore.toml's godfather relation is an edge."""
    for at in POSITIONS:
        g = web.get("/api/graph", params={"at": at}).json()
        if at < 0:
            assert not g["nodes"]
            continue
        cards = {c["id"]: c for c in web.get("/api/characters", params={"at": at}).json()}
        assert {n["id"] for n in g["nodes"]} == set(cards)
        assert all(-1.01 <= n["x"] <= 1.01 and -1.01 <= n["y"] <= 1.01 for n in g["nodes"])
        for e in g["edges"]:
            assert e["source"] in cards and e["target"] in cards and e["weight"] == len(e["chunks"]) and max(e["chunks"]) <= at
            ends = (card_names(cards[e["source"]]), card_names(cards[e["target"]]))
            assert all(named(texts[c], ends[0]) and named(texts[c], ends[1]) for c in e["chunks"]), e
            assert all(r["chunk"] <= at and r["label"] for r in e["relations"])
    end = web.get("/api/graph", params={"at": len(texts) - 1}).json()
    by_id = {n["id"]: n["name"] for n in end["nodes"]}
    assert set(by_id.values()) == set(KNOWN)
    labels = [
        r["label"]
        for e in end["edges"]
        if {by_id[e["source"]], by_id[e["target"]]} == {"Thomas Reddick", "Edith Marlowe"}
        for r in e["relations"]
    ]
    assert any("godfather" in label or "goddaughter" in label for label in labels), labels


def test_timeline_and_chunks(web: TestClient, story) -> None:
    tl = web.get("/api/timeline", params={"at": 11}).json()
    assert [c["index"] for c in tl["chunks"]] == list(range(12))
    assert tl["chapters"][0]["first_chunk"] == 0 and tl["chapters"][-1]["last_chunk"] == 11
    assert all(max(e["chunks"]) <= 11 for e in tl["entities"])
    rec = story.at(5).records()[5]
    chunk = web.get("/api/chunk/5", params={"at": 11}).json()
    assert chunk["text"] == rec.text and chunk["summary"] == rec.summary and chunk["chapter"] == rec.chapter
    later = web.get("/api/chunk/12", params={"at": 11})
    assert later.status_code == 404 and "not read yet" in later.json()["detail"]
    last = story.last_index()
    for view in ("characters", "graph", "timeline", "prompt", "chunk/3"):
        for bad in (999, -2):
            res = web.get(f"/api/{view}", params={"at": bad})
            assert res.status_code == 400, (view, bad)
            assert res.json()["detail"] == (
                f"position {bad} is outside story 'sample', which has chunks 0..{last} (use -1 for before the first)"
            )


def test_prompt_matches_the_prompt_command(web: TestClient, sample_home: Path) -> None:
    page = web.get("/api/prompt", params={"at": 12}).json()
    cli = runner.invoke(
        cli_app,
        [
            "--home",
            str(sample_home),
            "prompt",
            "--story",
            "sample",
            "--at",
            "12",
            "--budget",
            "1024",
            "--llm",
            "extractive",
            "--json",
        ],
    )
    assert cli.exit_code == 0, cli.output
    expected = json.loads(cli.stdout)
    for key in ("text", "tokens", "budget", "sections", "decisions", "counts"):
        assert page[key] == expected[key], key
    assert set(page["section_tokens"]) == set(page["sections"]) and page["tokens"] <= 1024
    assert web.get("/api/prompt", params={"at": 12, "budget": 700}).json()["tokens"] <= 700


@pytest.mark.slow
def test_prompt_tokens_with_the_local_tokenizer(sample_home: Path) -> None:
    """The default model's own tokenizer gives the same total on the page as on the CLI."""
    app = open_app(get_settings(home=sample_home), "sample", llm="local", budget=900)
    with TestClient(app) as client:
        page = client.get("/api/prompt", params={"at": 20}).json()
    cli = runner.invoke(
        cli_app,
        ["--home", str(sample_home), "prompt", "--story", "sample", "--at", "20", "--budget", "900", "--llm", "local", "--json"],
    )
    assert cli.exit_code == 0, cli.output
    assert page["tokens"] == json.loads(cli.stdout)["tokens"] and page["text"] == json.loads(cli.stdout)["text"]


def test_ask_gives_the_same_answer_as_the_library(web: TestClient, story) -> None:
    for at in (3, 20):
        data = web.get("/api/ask", params={"at": at, "q": "Who is Arthur Blackwood?"}).json()
        expected = answer_question(story.at(at), "Who is Arthur Blackwood?").to_dict()
        assert {k: data[k] for k in expected} == expected
        assert data["method"] in {"extractive", "not-told"} and all(c["chunk"] <= at for c in data["citations"])
    assert web.get("/api/ask", params={"q": "  "}).status_code == 400
    assert web.get("/api/ask").status_code == 422


def test_compare_report_and_its_files(web: TestClient) -> None:
    reports = web.get("/api/compare", params={"at": 10}).json()
    assert len(reports) == 1
    rep = reports[0]
    assert {r["strategy"] for r in rep["summary"]} == {"rolling_unbounded", "rolling_recursive", "retrieval", "last_chunk"}
    assert rep["at_position"] == 9 and all(r["position"] == 9 for r in rep["at_rows"])
    assert rep["plots"]
    png = web.get(rep["plots"][0]["url"])
    assert png.status_code == 200 and png.content[:8] == b"\x89PNG\r\n\x1a\n"
    for bad in ("/api/compare/0/files/..%2F..%2Fstory.json", "/api/compare/0/files/story.json", "/api/compare/5/files/report.md"):
        assert web.get(bad).status_code == 404


def test_page_and_static_assets_are_local(web: TestClient) -> None:
    page = web.get("/")
    assert page.status_code == 200 and "at-slider" in page.text
    for asset in ("/static/app.js", "/static/graph.js", "/static/app.css"):
        body = web.get(asset).text
        assert body and "http://" not in body.replace("http://www.w3.org/2000/svg", "") and "https://" not in body
    assert "https://" not in page.text and "http://" not in page.text


def test_read_only_get_only_and_store_unchanged(web: TestClient, sample_home: Path) -> None:
    from fastapi.routing import APIRoute

    methods = {m for r in web.app.routes if isinstance(r, APIRoute) for m in r.methods}
    assert methods <= {"GET", "HEAD"}
    for path in ("/api/ask?q=x", "/api/characters", "/api/prompt", "/", "/static/app.js"):
        for method in ("POST", "PUT", "PATCH", "DELETE"):
            assert web.request(method, path).status_code == 405, (method, path)
    for path in (
        "/api/story",
        "/api/characters",
        "/api/graph",
        "/api/timeline",
        "/api/prompt",
        "/api/compare",
        "/api/ask?q=Who+is+Edith%3F",
        "/api/chunk/3",
        "/api/continuity",
    ):
        assert web.get(path).status_code == 200, path
    assert store_files(sample_home) == web.store_before  # type: ignore[attr-defined]


def _listening_addresses(port: int) -> set[str]:
    """Local IPv4 addresses with a socket listening on ``port`` (from /proc/net/tcp)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        host, hex_port = local.split(":")
        if state == "0A" and int(hex_port, 16) == port:
            found.add(socket.inet_ntoa(bytes.fromhex(host)[::-1]))
    return found


@pytest.mark.slow
def test_serve_binds_loopback_by_default_and_rejects_a_busy_port(sample_home: Path) -> None:
    from browser import serve

    with serve(sample_home, "sample", "--llm", "extractive") as server:
        port = int(server.url.rsplit(":", 1)[1])
        assert _listening_addresses(port) == {"127.0.0.1"}
        # the server's threads share one store: concurrent reads all succeed and agree
        paths = [f"/api/characters?at={i % 31}" for i in range(40)] + [f"/api/graph?at={i}" for i in range(0, 31, 5)]
        with ThreadPoolExecutor(max_workers=8) as pool:
            bodies = list(pool.map(lambda p: urllib.request.urlopen(server.url + p, timeout=60).read(), paths))
        assert all(json.loads(b) is not None for b in bodies) and bodies[0] == bodies[31]
        busy = runner.invoke(cli_app, ["--home", str(sample_home), "serve", "--story", "sample", "--port", str(port)])
        assert busy.exit_code == 2 and "cannot listen on 127.0.0.1" in busy.output and "Traceback" not in busy.output
    missing = runner.invoke(cli_app, ["--home", str(sample_home), "serve", "--story", "nope", "--port", str(port)])
    assert missing.exit_code == 2 and "nope" in missing.output and "Traceback" not in missing.output


def small_story():
    """An InMemoryStory with a relation ("goddaughter of") that appears at chunk 3, an
    alias first used at chunk 2 and a character who arrives at chunk 4."""
    from automuse_rag.lore.entity import Entity, Relation
    from automuse_rag.memory.inmemory import InMemoryStory
    from automuse_rag.memory.types import ChunkRecord
    from automuse_rag.models.fake import HashEmbedder

    texts = [
        "Edith walked to the quay.",
        "Edith met the captain at the light.",
        "Miss Marlowe read the captain's letter.",
        "The captain is Edith's godfather.",
        "Arthur Blackwood came down the hill.",
    ]
    records = [ChunkRecord(i, f"s:{i}", 1 + i // 3, f"Chapter {1 + i // 3}", t, t) for i, t in enumerate(texts)]
    edith = Entity(
        "edith",
        "Edith Marlowe",
        "character",
        {"Edith Marlowe": 0, "Edith": 0, "Miss Marlowe": 2},
        [0, 1, 2, 3],
        [(0, "A schoolmistress."), (3, "The captain's goddaughter.")],
    )
    captain = Entity("reddick", "Captain Reddick", "character", {"Captain Reddick": 1}, [1, 2, 3], [(1, "Keeper of the light.")])
    arthur = Entity("blackwood", "Arthur Blackwood", "character", {"Arthur Blackwood": 4}, [4], [(4, "An agent.")])
    relations = [Relation("edith", "reddick", "goddaughter of", 3)]
    return InMemoryStory("small", records, [edith, captain, arthur], HashEmbedder(32), relations, outline="A story.")


def test_in_memory_story_graph_relations_and_aliases_as_of(tmp_path: Path) -> None:
    from automuse_rag.web import create_app

    with TestClient(create_app(small_story(), settings=get_settings(home=tmp_path), llm="extractive", budget=400)) as web:
        g2 = web.get("/api/graph", params={"at": 2}).json()
        assert [e["relations"] for e in g2["edges"]] == [[]]
        g3 = web.get("/api/graph", params={"at": 3}).json()
        assert g3["edges"][0]["relations"] == [{"label": "goddaughter of", "chunk": 3, "source": "edith", "via": ""}]
        assert {n["id"] for n in g3["nodes"]} == {"edith", "reddick"}

        def edith(at: int) -> dict:
            return next(c for c in web.get("/api/characters", params={"at": at}).json() if c["id"] == "edith")

        assert [a["name"] for a in edith(1)["aliases"]] == ["Edith"]
        assert edith(2)["aliases"][-1] == {"name": "Miss Marlowe", "chunk": 2, "chapter": 1}
        assert [d["text"] for d in edith(2)["descriptions"]] == ["A schoolmistress."]
        # a card leads with the introduction; later descriptions follow it, dated
        assert edith(3)["description"] == "A schoolmistress."
        assert [(d["text"], d["chunk"]) for d in edith(3)["descriptions"]] == [
            ("A schoolmistress.", 0),
            ("The captain's goddaughter.", 3),
        ]
        assert web.get("/api/story").json() == {
            "name": "small",
            "chunks": 5,
            "llm": "extractive",
            "budget": 400,
            "k": 8,
            "compare_reports": 0,
        }
        assert web.get("/api/compare").json() == []
        answer = web.get("/api/ask", params={"at": 3, "q": "Who is Arthur Blackwood?"}).json()
        assert answer["citations"] == [] and "has not told" in answer["answer"]
        answer = web.get("/api/ask", params={"at": 4, "q": "Who is Arthur Blackwood?"}).json()
        assert answer["citations"] and answer["citations"][0]["chunk"] == 4
