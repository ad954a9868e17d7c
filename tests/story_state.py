"""A story's observable state, read only through the public API (``StoryMemory.open``
and its snapshot's reads) and the CLI (``characters --json``, ``query --json``,
``export``), never through the store's files: the store's internals may change, and
these comparisons must keep holding."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from automuse_rag.cli import app
from automuse_rag.settings import get_settings

QUESTIONS = ("who is the main character?", "where does the story take place?")


def chunks_stored(home: Path, name: str) -> int:
    """Chunks committed so far (-1 when the story does not exist yet)."""
    from automuse_rag.errors import AutomuseError
    from automuse_rag.memory.story import StoryMemory

    try:
        memory = StoryMemory.open(get_settings(home=home), name)
    except AutomuseError:
        return -1
    try:
        return len(memory)
    finally:
        memory.close()


def _cli(home: Path, *args: str) -> str:
    result = CliRunner().invoke(app, ["--home", str(home), *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def story_state(home: Path, name: str, scratch: Path) -> dict[str, Any]:
    """Everything a user can read back, in comparable form. Also checks there are no
    duplicate memories: the summary and chunk collections hold exactly one record per
    stored chunk."""
    import networkx as nx

    from automuse_rag.memory.story import StoryMemory

    memory = StoryMemory.open(get_settings(home=home), name)
    try:
        n = len(memory)
        latest = memory.latest()
        records = [(r.index, r.id, r.chapter, r.chapter_title, r.text, r.summary) for r in latest.records()]
        assert [r[0] for r in records] == list(range(n)), "chunk indices are not 0..n-1"
        assert len({r[1] for r in records}) == n, "duplicate chunk ids"
        collections = {}
        for kind in ("summary", "chunk"):
            hits = latest.search("the story", k=n + 10, kinds=(kind,))
            ids = sorted(h.id for h in hits)
            assert ids == [f"{kind}:{i:05d}" for i in range(n)], f"{kind} memories are not one per chunk: {ids[:5]}..."
            collections[kind] = sorted((h.id, h.text, h.chunk, round(h.score, 6)) for h in hits)
        state = {
            "chunks": n,
            "records": records,
            "collections": collections,
            "entities": [e.to_dict() for e in latest.entities()],
            "graph": nx.node_link_data(latest.graph(), edges="links"),
            "outline": memory.outline,
            "outline_parts": [(p.chapter, p.title, p.text) for p in memory.outline_parts()],
            "search": [[(h.id, h.text, round(h.score, 6)) for h in latest.search(q, k=12)] for q in QUESTIONS],
        }
    finally:
        memory.close()
    state["characters_json"] = json.loads(_cli(home, "characters", "--story", name, "--json"))
    state["query_json"] = [json.loads(_cli(home, "query", "--story", name, q, "-k", "10", "--json")) for q in QUESTIONS]
    out = scratch / f"{name}-{home.name}.md"
    _cli(home, "export", "--story", name, "--format", "md", "--out", str(out))
    state["manuscript"] = out.read_text(encoding="utf-8")
    return state


def assert_same_story(a: dict[str, Any], b: dict[str, Any]) -> None:
    """Equal, key by key (so a failure names what differs)."""
    assert a.keys() == b.keys()
    for key, value in a.items():
        assert value == b[key], f"{key} differs"
