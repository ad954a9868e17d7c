"""``automuse ingest --llm openai:MODEL --concurrency 8`` and ``automuse generate``
against the fault-injecting server (tests/fault_server.py): bursts of 429 with
Retry-After, 500s, answers slower than the client's timeout, truncated JSON bodies
and connections reset mid-body. Zero chunks are lost and each story equals the one a
fault-free run gets from the same scripted answers (summaries, lore via
``characters --json``, memories, outline, manuscript).

The commands run as real processes (tests/fork_runner.py) with short timeouts and
retry waits from the environment (AUTOMUSE_OPENAI_TIMEOUT, _RETRY_WAIT,
_RETRY_MAX_WAIT, _MAX_RETRIES), so the suite stays fast.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import SAMPLE_DIR
from fault_server import KINDS, Faults, FaultServer
from fork_runner import run
from gen_helpers import PREMISE
from story_state import assert_same_story, story_state

pytestmark = pytest.mark.slow

FAST_RETRIES = {
    "OPENAI_API_KEY": "sk-test",
    "AUTOMUSE_OPENAI_TIMEOUT": "1.5",
    "AUTOMUSE_OPENAI_RETRY_WAIT": "0.05",
    "AUTOMUSE_OPENAI_RETRY_MAX_WAIT": "2",
    "AUTOMUSE_OPENAI_MAX_RETRIES": "8",
}


def run_against(faults: Faults, argv: list[str], log: Path) -> tuple[FaultServer, float]:
    with FaultServer(faults) as server:
        code, seconds = run(argv, {**FAST_RETRIES, "OPENAI_BASE_URL": server.base_url}, log)
        assert code == 0, log.read_text()[-3000:]
    return server, seconds


def lore_requests(server: FaultServer) -> int:
    """Distinct per-chunk analysis requests the server saw."""
    return sum(1 for key in server.seen if '"content": "Passage (chapter' in key)


def compare_runs(
    tmp_path: Path, name: str, argv: Callable[[Path], list[str]], faults: Faults
) -> tuple[FaultServer, FaultServer, dict]:
    clean_home, faulty_home = tmp_path / f"{name}-clean", tmp_path / f"{name}-faulty"
    clean, clean_s = run_against(Faults(), argv(clean_home), tmp_path / f"{name}-clean.log")
    faulty, faulty_s = run_against(faults, argv(faulty_home), tmp_path / f"{name}-faulty.log")
    expected = story_state(clean_home, name, tmp_path)
    assert_same_story(story_state(faulty_home, name, tmp_path), expected)
    print(
        f"{name}: {expected['chunks']} chunks; clean {clean_s:.1f}s, faulty {faulty_s:.1f}s; "
        f"injected {dict(faulty.stats.injected)}; most in flight {faulty.stats.max_in_flight}"
    )
    return clean, faulty, expected


def test_ingest_at_concurrency_8_loses_nothing_to_server_faults(tmp_path: Path) -> None:
    def argv(home: Path) -> list[str]:
        return [
            "--home",
            str(home),
            "ingest",
            str(SAMPLE_DIR / "story.txt"),
            "--story",
            "faults",
            "--llm",
            "openai:scripted",
            "--concurrency",
            "8",
            "--embedder",
            "hash:32",
            "--size",
            "1500",
            "--json",
        ]

    faults = Faults(rate=0.4, burst=(12, 16), retry_after=1.0, slow_seconds=2.5, latency=0.3)
    clean, faulty, state = compare_runs(tmp_path, "faults", argv, faults)
    assert set(faulty.stats.injected) == {*KINDS, "burst-429"}, faulty.stats.injected
    assert sum(faulty.stats.injected.values()) >= 20
    assert faulty.stats.max_in_flight >= 5  # the requests really ran concurrently
    # zero chunks lost: every chunk was analysed by the model, in both runs
    assert lore_requests(clean) == lore_requests(faulty) == state["chunks"] >= 25
    scripted = [r for r in state["records"] if " ".join(r[4].split()).startswith(r[5][:40])]
    assert len(scripted) == state["chunks"], "some summaries are the extractive fallback, not the model's answer"


def test_generate_loses_nothing_to_server_faults(tmp_path: Path) -> None:
    def argv(home: Path) -> list[str]:
        return [
            "--home",
            str(home),
            "generate",
            "--premise",
            PREMISE,
            "--story",
            "faultgen",
            "--chunks",
            "6",
            "--llm",
            "openai:scripted",
            "--memory-llm",
            "extractive",
            "--embedder",
            "hash:64",
            "--json",
        ]

    faults = Faults(rate=0.5, burst=(4, 3), retry_after=1.0, slow_seconds=2.5)
    _, faulty, state = compare_runs(tmp_path, "faultgen", argv, faults)
    assert state["chunks"] == 6 and "The Stopped Minute" in state["manuscript"]  # the model's plan, not a fallback
    assert sum(faulty.stats.injected.values()) >= 5 and faulty.stats.injected["burst-429"] == 3
