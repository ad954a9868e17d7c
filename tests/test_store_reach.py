"""A record stored in Chroma that no search returns.

HNSW keeps each record reachable through links from its neighbours; when they prune
their link lists a record can lose every link pointing at it. It then stays in the
collection (``get`` and ``count`` see it) while no search finds it: a memory silently
gone. A kill-and-resume test of the sample story hit it once in CI (chunk 14 of 94,
after Chroma replayed a 48-record batch from its log), and Chroma 1.5.9 shows it after
updates (chroma-core/chroma#7758). Chroma's insertion order within a batch is not fixed,
so these tests make the damage exactly: they remove every level-0 link to one record
from the persisted HNSW files, as the pruning does.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import struct
from pathlib import Path

import pytest
from conftest import SAMPLE_DIR
from typer.testing import CliRunner

from automuse_rag.cli import app
from automuse_rag.memory.story import StoryMemory
from automuse_rag.settings import get_settings

runner = CliRunner()
STORY = "sample"
#: hnswlib's header as Chroma persists it: a format version, then hnswlib's own fields
#: (offsetLevel0, max_elements, cur_element_count, size_data_per_element, label_offset,
#: offsetData, maxlevel, enterpoint_node, maxM, maxM0, M, mult, ef_construction).
HEADER = struct.Struct("<IQQQQQQiIQQQdQ")


def cli(home: Path, *args: str):
    return runner.invoke(app, ["--home", str(home), *args])


@pytest.fixture(scope="module")
def template_home(tmp_path_factory) -> Path:
    """The sample story, its collections persisting their HNSW graph every 10 records
    (Chroma keeps the records since the last persist in its log and replays them at
    open, so only a persisted graph can be damaged on disk)."""
    from automuse_rag.memory import store as store_mod

    home = tmp_path_factory.mktemp("reach")
    often = {"hnsw": {"space": "cosine", "sync_threshold": 10, "batch_size": 10}}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(store_mod, "_configuration", lambda kind, tier: often)
        result = cli(
            home, "ingest", str(SAMPLE_DIR / "story.txt"), "--story", STORY, "--llm", "extractive", "--embedder", "hash:32"
        )
    assert result.exit_code == 0, result.output
    return home


@pytest.fixture
def home(template_home: Path, tmp_path: Path) -> Path:
    shutil.copytree(template_home / "stores", tmp_path / "stores", ignore=shutil.ignore_patterns(".locks"))
    return tmp_path


def _vector_segment(chroma: Path, kind: str) -> Path:
    db = sqlite3.connect(chroma / "chroma.sqlite3")
    try:
        rows = db.execute(
            "SELECT c.name, s.id FROM segments s JOIN collections c ON c.id = s.collection WHERE s.scope = 'VECTOR'"
        ).fetchall()
    finally:
        db.close()
    (segment,) = [sid for name, sid in rows if name.endswith(f"-{kind}")]
    return chroma / segment


def cut_links(home: Path, kind: str) -> str:
    """Remove every link to one record of ``kind``'s whole collection (one on level 0
    only, not the entry point) from its persisted HNSW graph. Returns its id, found by
    the vector the graph stores for it."""
    segment = _vector_segment(home / "stores" / STORY / "chroma", kind)
    header = HEADER.unpack((segment / "header.bin").read_bytes()[: HEADER.size])
    assert header[0] == 1 and header[4] == header[6] + 4 * len(next(iter(_embeddings(home, kind).values()))) + 8, (
        f"Chroma's persisted HNSW layout is not the one this helper knows (header {header[:7]}): update cut_links"
    )
    count, size, data_at, enter, max_m0 = header[3], header[4], header[6], header[8], header[10]
    levels, lists, at = [], (segment / "link_lists.bin").read_bytes(), 0
    for _ in range(count):  # per element: the size of its upper-level link lists, then them
        levels.append(struct.unpack_from("<I", lists, at)[0])
        at += 4 + levels[-1]
    data = bytearray((segment / "data_level0.bin").read_bytes())
    stored = _embeddings(home, kind)
    dim = len(next(iter(stored.values())))

    def owner(i: int) -> str | None:
        vec = struct.unpack_from(f"<{dim}f", data, i * size + data_at)
        same = [rid for rid, emb in stored.items() if sum(a * b for a, b in zip(vec, emb)) > 1 - 1e-5]
        return same[0] if len(same) == 1 else None

    target = next(i for i in range(count // 2, count) if levels[i] == 0 and i != enter and owner(i))
    for i in range(count):
        base = i * size
        n = struct.unpack_from("<H", data, base)[0]
        links = [x for x in struct.unpack_from(f"<{n}I", data, base + 4) if x != target]
        struct.pack_into("<H", data, base, len(links))
        struct.pack_into(f"<{max_m0}I", data, base + 4, *(links + [0] * (max_m0 - len(links))))
    (segment / "data_level0.bin").write_bytes(bytes(data))
    found = owner(target)
    assert found is not None
    return found


def _embeddings(home: Path, kind: str) -> dict[str, list[float]]:
    mem = StoryMemory.open(get_settings(home=home), STORY)
    try:
        page = mem.store._cols[(kind, None)].get(include=["embeddings"])
        return {rid: [float(x) for x in emb] for rid, emb in zip(page["ids"], page["embeddings"])}
    finally:
        mem.close()


def findable(home: Path, kind: str, record_id: str) -> bool:
    """Whether a search for the record's own embedding returns it."""
    mem = StoryMemory.open(get_settings(home=home), STORY)
    try:
        col = mem.store._cols[(kind, None)]
        emb = col.get(ids=[record_id], include=["embeddings"])["embeddings"][0]
        got = col.query(query_embeddings=[list(emb)], n_results=col.count(), include=[])["ids"][0]
        return record_id in got
    finally:
        mem.close()


def set_settled(home: Path, chunk: int) -> None:
    """What a run killed before it settled the index leaves: an older mark."""
    db = sqlite3.connect(home / "stores" / STORY / "state.sqlite")
    try:
        manifest = json.loads(db.execute("SELECT value FROM meta WHERE key = 'manifest'").fetchone()[0])
        manifest["index_settled"] = chunk
        db.execute("UPDATE meta SET value = ? WHERE key = 'manifest'", (json.dumps(manifest),))
        db.commit()
    finally:
        db.close()


@pytest.mark.parametrize("kind", ["summary", "mention"])
def test_check_finds_a_record_no_search_returns_and_repair_relinks_it(home: Path, kind: str) -> None:
    assert cli(home, "check", "--story", STORY).exit_code == 0
    lost = cut_links(home, kind)
    assert not findable(home, kind, lost), "the damage did not take"
    check = cli(home, "check", "--story", STORY)
    assert check.exit_code == 1, check.output
    # the record, and any other whose only links came through it
    found = re.search(rf"{kind} collection: (\d+) records no search finds .*\(chunks ([\d, ]+)\)", check.output)
    assert found and int(lost.split(":")[1]) in {int(c) for c in found[2].split(", ")}, check.output
    n = int(found[1])
    repaired = cli(home, "repair", "--story", STORY)
    assert repaired.exit_code == 0 and f"relinked {n} of {n} Chroma {kind} collection records" in repaired.output, repaired.output
    assert findable(home, kind, lost)
    assert cli(home, "check", "--story", STORY).exit_code == 0


def test_the_next_write_run_relinks_what_a_killed_run_left_unsettled(home: Path) -> None:
    """A run settles the index (probes what it wrote) before it ends; one killed first
    leaves its records to the next run, which relinks any that no search finds."""
    mem = StoryMemory.open(get_settings(home=home), STORY)
    try:
        assert mem.manifest["index_settled"] == mem.last_index()
    finally:
        mem.close()
    lost = cut_links(home, "summary")
    set_settled(home, int(lost.split(":")[1]) - 1)
    again = cli(home, "ingest", str(SAMPLE_DIR / "story.txt"), "--story", STORY, "--llm", "extractive", "--embedder", "hash:32")
    assert again.exit_code == 0, again.output
    assert findable(home, "summary", lost)
    assert cli(home, "check", "--story", STORY).exit_code == 0


def test_records_settled_before_are_not_probed_again(home: Path) -> None:
    """The settle is bounded by what was written: a complete store's rerun probes nothing
    (so damage to old records is left to check and repair)."""
    lost = cut_links(home, "summary")
    again = cli(home, "ingest", str(SAMPLE_DIR / "story.txt"), "--story", STORY, "--llm", "extractive", "--embedder", "hash:32")
    assert again.exit_code == 0, again.output
    assert not findable(home, "summary", lost)


class KnockOn:
    """A collection where relinking a record cuts off the records ``cuts`` names (an
    HNSW update re-wiring its neighbours' links), each a neighbour of a neighbour."""

    def __init__(self, lost: set[str], cuts: dict[str, str], near: dict[str, set[str]]) -> None:
        self.lost, self.cuts, self.near = set(lost), cuts, near
        self.relinked: list[str] = []

    def probe(self, ids):
        ids = list(ids)
        return sorted(i for i in ids if i in self.lost), set(ids), {n for i in ids for n in self.near.get(i, ())}

    def relink(self, ids):
        for i in ids:
            self.relinked.append(i)
            self.lost.discard(i)
            if i in self.cuts:
                self.lost.add(self.cuts.pop(i))
        return sorted(i for i in ids if i in self.lost)


def test_relinking_also_relinks_what_it_cut_off():
    from automuse_rag.memory.reach import relink_sweeps

    # relinking a cuts off c (two hops away: a -> b -> c); relinking c cuts off nothing
    col = KnockOn({"a"}, {"a": "c"}, {"a": {"a", "b"}, "b": {"b", "c"}, "c": {"c"}})
    relinked, left = relink_sweeps(col.probe, col.relink, ["a"])
    assert relinked == {"a", "c"} and not left and not col.lost
    assert col.relinked == ["a", "c"]
    # a record that stays unreachable is reported, and the sweeps end
    stubborn = KnockOn({"a"}, {}, {"a": {"a"}})
    stubborn.relink = lambda ids: list(ids)  # rewriting never links it
    relinked, left = relink_sweeps(stubborn.probe, stubborn.relink, ["a"])
    assert relinked == set() and left == {"a"}
