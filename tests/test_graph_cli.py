"""``automuse graph``: the character graph as of a chunk, as GraphML (read back with
networkx) or PNG."""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import pytest
from test_compare_sample import sample_story
from typer.testing import CliRunner

from automuse_rag.cli import app
from automuse_rag.compare.graph_files import graphml_ready, write_graph
from automuse_rag.errors import InputError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_graphml_round_trip_keeps_names_aliases_and_weights(tmp_path: Path) -> None:
    story = sample_story()
    g = story.at(10).graph()
    path = write_graph(g, tmp_path / "g.graphml")
    back = nx.read_graphml(path)
    assert set(back.nodes) == set(g.nodes) and back.number_of_edges() == g.number_of_edges() > 0
    edith = back.nodes["edith-marlowe"]
    assert edith["name"] == "Edith Marlowe" and "Edith" in edith["aliases"].split("; ")
    a, b, data = next(iter(g.edges(data=True)))
    assert back.edges[a, b]["weight"] == data["weight"]
    # nothing after chunk 10 leaks: Agnes/Walter etc. may be there, but the graph as of 3 is smaller
    assert story.at(3).graph().number_of_nodes() < g.number_of_nodes()


def test_graphml_ready_flattens_lists() -> None:
    g = nx.Graph()
    g.add_node("a", aliases=["x", "y"], name="A", note=None)
    g.add_node("b", aliases=[], name="B")
    g.add_edge("a", "b", chunks=[1, 2], relations=[{"label": "knows", "chunk": 2}], weight=2)
    flat = graphml_ready(g)
    assert flat.nodes["a"]["aliases"] == "x; y" and flat.nodes["a"]["note"] == ""
    assert flat.edges["a", "b"]["chunks"] == "1; 2" and '"knows"' in flat.edges["a", "b"]["relations"]
    assert g.nodes["a"]["aliases"] == ["x", "y"]  # the original is untouched


def test_png_written(tmp_path: Path) -> None:
    path = write_graph(sample_story().at(20).graph(), tmp_path / "g.png", title="sample")
    assert path.read_bytes()[:8] == PNG_MAGIC and path.stat().st_size > 10_000
    with pytest.raises(InputError):
        write_graph(nx.Graph(), tmp_path / "g.svg")


def test_cli_rejects_a_bad_suffix_and_a_missing_story(tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["--home", str(tmp_path), "graph", "--story", "sample", "--out", str(tmp_path / "g.txt")])
    assert res.exit_code != 0 and "graphml or .png" in res.output
    res = runner.invoke(app, ["--home", str(tmp_path), "graph", "--story", "nosuch", "--out", str(tmp_path / "g.png")])
    assert res.exit_code != 0 and "error:" in res.output and "Traceback" not in res.output


def test_cli_on_a_real_store(tmp_path: Path) -> None:
    from test_compare_cli import ingest_sample

    from automuse_rag.memory.story import StoryMemory
    from automuse_rag.settings import get_settings

    ingest_sample(tmp_path)
    runner = CliRunner()
    gml = tmp_path / "out" / "g10.graphml"
    res = runner.invoke(app, ["--home", str(tmp_path), "graph", "--story", "sample", "--at", "10", "--out", str(gml)])
    assert res.exit_code == 0, res.output
    back = nx.read_graphml(gml)
    mem = StoryMemory.open(get_settings(home=tmp_path), "sample")
    want = mem.at(10).graph()
    assert set(back.nodes) == set(want.nodes) and back.number_of_edges() == want.number_of_edges() > 0
    assert {back.nodes[n]["name"] for n in back} == {want.nodes[n]["name"] for n in want}
    # as of chunk 10 fewer names are known; later chunks can also merge entities (the graph
    # at the end may have fewer nodes), but every name known at 10 is still known
    names_at = lambda g: {a for n in g for a in g.nodes[n]["aliases"]}  # noqa: E731
    assert names_at(want) < names_at(mem.latest().graph())
    png = tmp_path / "g.png"
    res = runner.invoke(app, ["--home", str(tmp_path), "graph", "--story", "sample", "--out", str(png), "--json"])
    assert res.exit_code == 0, res.output
    assert png.read_bytes()[:8] == PNG_MAGIC and png.stat().st_size > 10_000
    res = runner.invoke(app, ["--home", str(tmp_path), "graph", "--story", "sample", "--at", "999", "--out", str(png)])
    last = mem.last_index()
    mem.close()
    assert res.exit_code != 0 and "Traceback" not in res.output
    assert res.stderr.strip() == (
        f"error: position 999 is outside story 'sample', which has chunks 0..{last} (use -1 for before the first)"
    )
