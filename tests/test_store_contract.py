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

from automuse_rag.books import load_book
from automuse_rag.memory.inmemory import InMemoryStory
from automuse_rag.memory.locking import StoryLock
from automuse_rag.memory.story import StoryMemory
from automuse_rag.memory.types import ChunkRecord
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
    return [(c, analyze_chunk(c, None, nlp)) for c in chunks]


def _stored(home: Path, analysed, url: str | None) -> StoryMemory:
    cfg = get_settings(home=home)
    emb = HashEmbedder(32)
    with StoryLock(cfg.stores_dir / "contract", "contract"):
        mem = StoryMemory.create(cfg, "contract", embedder=emb, llm_name="extractive", source="sample", chroma_url=url)
        for start in range(0, len(analysed), 7):  # batches, as ingest commits them
            mem.commit_chunks(analysed[start : start + 7])
        mem.close()
    return StoryMemory.open(cfg, "contract", emb)


@pytest.fixture(scope="module", params=["naive", "embedded", "server"])
def story(request, analysed, tmp_path_factory):
    if request.param == "naive":
        yield InMemoryStory.from_analyses(
            "contract",
            [(ChunkRecord(c.index, c.id, c.chapter, c.chapter_title, c.text, a.summary), a) for c, a in analysed],
            HashEmbedder(32),
        )
        return
    home = tmp_path_factory.mktemp(request.param)
    if request.param == "embedded":
        mem = _stored(home, analysed, None)
        yield mem
        mem.close()
        return
    from test_store_server import _start, free_port

    url = f"http://127.0.0.1:{free_port()}"
    proc = _start(url, home / "server")
    try:
        mem = _stored(home, analysed, url)
        yield mem
        mem.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(scope="module")
def reference(analysed):
    return InMemoryStory.from_analyses(
        "contract",
        [(ChunkRecord(c.index, c.id, c.chapter, c.chapter_title, c.text, a.summary), a) for c, a in analysed],
        HashEmbedder(32),
        mode="fold",
    )


def test_every_read_agrees_at_every_position(story, reference) -> None:
    n = len(reference)
    assert len(story) == n and story.last_index() == n - 1
    assert story.records() == reference.records()
    for at in range(n):
        ents = reference.entities(at)
        ids = [e.id for e in ents]
        assert [e.to_dict() for e in story.entities(at)] == [e.to_dict() for e in ents], at
        assert story.entities(at, ids[:3]) == reference.entities(at, ids[:3])
        assert story.entity_names(ids, at) == reference.entity_names(ids, at)
        assert story.relations(at) == reference.relations(at)
        assert story.neighbours(ids, at) == reference.neighbours(ids, at)
        text = reference.records_at([at])[at].text
        assert story.named_in(text, at) == reference.named_in(text, at)
        assert story.records_at(range(max(0, at - 3), at + 1)) == reference.records_at(range(max(0, at - 3), at + 1))
        assert story.chapters([0, at]) == reference.chapters([0, at])
        g, h = story.graph(at), reference.graph(at)
        assert sorted(g.nodes(data=True)) == sorted(h.nodes(data=True))
        assert sorted((min(a, b), max(a, b), d["chunks"]) for a, b, d in g.edges(data=True)) == sorted(
            (min(a, b), max(a, b), d["chunks"]) for a, b, d in h.edges(data=True)
        )
        if at % 5 == 0 or at == n - 1:
            for q in QUERIES:
                got = [(x.id, x.kind, x.chunk, round(x.score, 4), x.text) for x in story.search(q, k=6, as_of=at)]
                want = [(x.id, x.kind, x.chunk, round(x.score, 4), x.text) for x in reference.search(q, k=6, as_of=at)]
                assert got == want, (at, q)


def test_the_sample_cast_is_resolved_with_its_nicknames_and_relations(reference) -> None:
    """The reference itself is right about the sample story's cast (books/sample/lore.toml)."""
    names = {e.name: e for e in reference.entities()}
    assert {"Edith Marlowe", "Thomas Reddick", "Samuel Greaves", "Walter Pennock"} <= set(names)
    assert {"Edith", "Miss Marlowe"} <= set(names["Edith Marlowe"].aliases)
    assert "Mr. Pennock" in names["Walter Pennock"].aliases and "Mrs. Pennock" not in names["Walter Pennock"].aliases
