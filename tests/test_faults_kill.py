"""Twenty SIGKILLs at seeded random moments, ten across ``automuse ingest`` and ten
across ``automuse generate``: after each kill the same command is run again, and the
story it ends with must equal an uninterrupted run's (same chunk ids, texts,
summaries, memories, lore, graph, outline and manuscript; no duplicate memory).

The commands run in real child processes (tests/fork_runner.py) killed with SIGKILL.
Ingest uses ``--llm extractive``; generation writes with the scripted OpenAI-compatible
server (tests/fault_server.py, no faults), whose answers depend on the request
content only, so a resumed run is asked the same questions and gets the same answers.
Equality is checked through the public read API and the CLI (tests/story_state.py).
"""

from __future__ import annotations

import random
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import SAMPLE_DIR
from fault_server import FaultServer
from fork_runner import run, start
from gen_helpers import PREMISE
from story_state import assert_same_story, chunks_stored, story_state

pytestmark = pytest.mark.slow

SEED = 1128
KILLS = 10
INGEST_STORY, GENERATE_STORY = "killed", "killgen"
GEN_CHUNKS = 6


def half_sample(directory: Path) -> Path:
    """The first half of the sample story (whole paragraphs): enough chunks, half the time."""
    text = (SAMPLE_DIR / "story.txt").read_text(encoding="utf-8")
    cut = text.index("\n\n", len(text) // 2)
    path = directory / "half-story.txt"
    path.write_text(text[:cut] + "\n", encoding="utf-8")
    return path


def ingest_argv(book: Path) -> Callable[[Path], list[str]]:
    def argv(home: Path) -> list[str]:
        return [
            "--home",
            str(home),
            "ingest",
            str(book),
            "--story",
            INGEST_STORY,
            "--llm",
            "extractive",
            "--embedder",
            "hash:32",
            "--size",
            "250",
            "--json",
        ]

    return argv


def generate_argv(home: Path) -> list[str]:
    return [
        "--home",
        str(home),
        "generate",
        "--premise",
        PREMISE,
        "--story",
        GENERATE_STORY,
        "--chunks",
        str(GEN_CHUNKS),
        "--llm",
        "openai:scripted",
        "--memory-llm",
        "extractive",
        "--embedder",
        "hash:64",
        "--json",
    ]


def kill_and_resume(
    tmp_path: Path,
    label: str,
    argv: Callable[[Path], list[str]],
    env: dict[str, str],
    story: str,
    rng: random.Random,
    marker: str = "state.sqlite",
) -> list[tuple[float, int]]:
    """An uninterrupted reference run, then KILLS runs each SIGKILLed at a random moment
    (stratified: one in each tenth of the part of the reference run that writes its store) and resumed; every resumed story must equal the
    reference. Returns (kill time, chunks stored when killed) per kill."""
    reference = tmp_path / f"{label}-reference"
    child = start(argv(reference), env, tmp_path / f"{label}-reference.log")
    # the kills are spread over the part of the run that writes the store: the start
    # (imports, loading models, planning) is most of a short run's time under load
    opened = child.first_seen(reference / "stores" / story / marker)
    code = child.wait()
    seconds = time.monotonic() - child.started
    assert code == 0, (tmp_path / f"{label}-reference.log").read_text()[-2000:]
    assert opened is not None, "the reference run never created its store"
    expected = story_state(reference, story, tmp_path)
    kills = []
    for i in range(KILLS):
        home, log = tmp_path / f"{label}-{i}", tmp_path / f"{label}-{i}.log"
        # seeded, one in each tenth of the writing part of the run
        delay = opened + (i + rng.random()) / KILLS * 0.95 * (seconds - opened)
        for _ in range(4):  # the machine may run faster now: kill earlier until the kill lands
            if start(argv(home), env, log).kill_after(delay):
                break
            shutil.rmtree(home, ignore_errors=True)
            delay = opened / 2 + (delay - opened / 2) / 2
        else:
            pytest.fail(f"{label} run {i} always finished before its SIGKILL")
        at_kill = chunks_stored(home, story)
        kills.append((round(delay, 2), at_kill))
        code, _ = run(argv(home), env, log)
        assert code == 0, f"resume after kill at {delay:.2f}s failed:\n{log.read_text()[-2000:]}"
        assert_same_story(story_state(home, story, tmp_path), expected)
    total = expected["chunks"]
    assert sum(1 for _, n in kills if 0 < n < total) >= 3, f"too few kills landed mid-run: {kills}"
    print(f"{label}: {total} chunks, reference {seconds:.1f}s, kills (seconds, chunks stored): {kills}")
    return kills


def test_ten_sigkills_during_ingest(tmp_path: Path) -> None:
    kill_and_resume(tmp_path, "ingest", ingest_argv(half_sample(tmp_path)), {}, INGEST_STORY, random.Random(SEED))


def test_ten_sigkills_during_generate(tmp_path: Path) -> None:
    with FaultServer() as server:
        env = {"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "sk-test"}
        # the manuscript appears with the first chunk: the kills go where chunks are written
        kill_and_resume(tmp_path, "generate", generate_argv, env, GENERATE_STORY, random.Random(SEED + 1), "manuscript.md")
