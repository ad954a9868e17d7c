"""SIGKILL half way through an ingest, run again: the same store as an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import REPO, SAMPLE_DIR, committed_chunks

from automuse_rag.memory.story import StoryMemory
from automuse_rag.settings import get_settings

AUTOMUSE = Path(sys.executable).parent / "automuse"
ARGS = [
    "ingest",
    str(SAMPLE_DIR / "story.txt"),
    "--story",
    "resume",
    "--llm",
    "extractive",
    "--embedder",
    "hash:32",
    "--size",
    "400",
]


def run(home: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(AUTOMUSE), "--home", str(home), *ARGS], capture_output=True, text=True, timeout=300, cwd=REPO)


def snapshot(home: Path) -> dict:
    memory = StoryMemory.open(get_settings(home=home), "resume")
    try:
        d = home / "stores" / "resume"
        return {
            "collections": {k: memory.store.get_all(k) for k in ("summary", "mention", "chunk")},
            "records": memory.latest().records(),
            "lore": _unstamped(json.loads((d / "lore.json").read_text())),
            "graph": _unstamped(json.loads((d / "graph.json").read_text())),
            "as_of": [[e.to_dict() for e in memory.at(i).entities()] for i in range(len(memory))],
            "outline": memory.outline,
        }
    finally:
        memory.close()


def _unstamped(data: dict) -> dict:
    """An export without what differs between two stores of the same story (its id,
    and the state version, which counts commits)."""
    data = dict(data)
    for key in ("state_version", "store_id"):
        data.pop(key, None)
    if isinstance(data.get("graph"), dict):
        data["graph"] = {k: v for k, v in data["graph"].items() if k not in ("state_version", "store_id")}
    return data


def test_sigkill_half_way_then_resume_equals_uninterrupted(tmp_path: Path):
    killed_home, clean_home = tmp_path / "killed", tmp_path / "clean"
    proc = subprocess.Popen(
        [str(AUTOMUSE), "--home", str(killed_home), *ARGS], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO
    )
    db = killed_home / "stores" / "resume" / "state.sqlite"
    deadline = time.monotonic() + 240
    while committed_chunks(db) < 20 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    at_kill = committed_chunks(db)
    manifest = json.loads((killed_home / "stores" / "resume" / "story.json").read_text())
    assert 20 <= at_kill < manifest["chunks_total"], f"killed at {at_kill} of {manifest['chunks_total']} chunks"
    assert not manifest["complete"]

    resumed = run(killed_home)
    assert resumed.returncode == 0, resumed.stderr
    assert run(clean_home).returncode == 0

    a, b = snapshot(killed_home), snapshot(clean_home)
    for kind in ("summary", "mention", "chunk"):
        assert sorted(a["collections"][kind]) == sorted(b["collections"][kind]), kind
        assert a["collections"][kind] == b["collections"][kind], kind
    assert len(a["collections"]["chunk"]) == manifest["chunks_total"]
    assert a["records"] == b["records"]
    assert a["lore"] == b["lore"] and a["graph"] == b["graph"] and a["outline"] == b["outline"]
    assert a["as_of"] == b["as_of"]
