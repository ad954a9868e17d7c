"""Contradictions per 100 generated chunks, with generation's continuity check and
without it (issue 26, part 5).

Two writers:

- ``scripted``: a model that breaks facts on purpose. Its story states facts early
  (a death, an eye colour, a kinship tie) in passages of name-free sentences of Moby Dick;
  afterwards each passage it writes breaks one of those facts with probability ``--p``
  (the dead man speaks, the eyes change colour, the sister is called a wife), in
  phrasings drawn at random. It obeys a pinned fact: a retry whose prompt pins the fact
  it broke does not break that fact again. Ground truth is known, so what is counted is
  the breaking passages kept in the finished manuscript (the check's misses), per 100
  chunks, next to the checker's own reports on the manuscript.
- ``local``: the embedded model (SmolLM2-135M) writing from premises of the shared data.
  There is no ground truth: what is counted is what ``automuse continuity`` reports on
  the finished manuscript, per 100 chunks. A small model rarely states facts, so expect
  few.

Usage:
    .venv/bin/python benchmarks/continuity_gen.py scripted [--chunks 100] [--p 0.3] [--seed 0]
    .venv/bin/python benchmarks/continuity_gen.py local [--premises 2] [--chunks 20]
Add ``--write`` to put the table in docs/benchmarks.md (bench:continuity-gen).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from guard_thresholds import write_section  # noqa: E402

from automuse_rag.generate import generate_story  # noqa: E402
from automuse_rag.generate.loop import options_from_settings  # noqa: E402
from automuse_rag.memory.continuity import check_story  # noqa: E402
from automuse_rag.memory.story import StoryMemory  # noqa: E402
from automuse_rag.models.fake import HashEmbedder, ScriptedChatModel  # noqa: E402
from automuse_rag.settings import get_settings  # noqa: E402

FILLER = REPO.parent / "shared" / "data" / "gutenberg" / "cache" / "epub" / "2701" / "pg2701.txt"  # Moby Dick
PREMISE = (
    "In a hill town where the river has run dry, a young clockmaker named Nora Fairley inherits her aunt's workshop. "
    "The water bailiff Tobias Crane begs her to mend the tower clock, and her sister Edith Fairley keeps the accounts."
)
PLAN = {
    "title": "The Stopped Minute",
    "chapters": [
        {"number": n, "title": t, "plan": p}
        for n, t, p in [
            (1, "The Workshop", "Nora arrives in the dry town and opens her aunt's workshop."),
            (2, "The Bailiff", "Tobias Crane asks Nora to mend the tower clock."),
            (3, "The Dam", "Nora climbs to the old dam and learns who opened it."),
            (4, "The Fair", "The town gathers at the fair while the clock is silent."),
            (5, "The Flood", "The water comes back to the river."),
        ]
    ],
    "cast": [
        {"name": "Nora Fairley", "kind": "character", "description": "a young clockmaker"},
        {"name": "Tobias Crane", "kind": "character", "description": "the old water bailiff"},
        {"name": "Edith Fairley", "kind": "character", "description": "Nora's sister"},
    ],
}
# The facts the story states, one per early chunk (chunk index: sentence).
FACTS = {
    1: ("eyes", "Nora Fairley had grey eyes, the colour of the dry riverbed."),
    2: ("kin", "Nora Fairley's sister, Edith Fairley, kept the accounts of the workshop."),
    3: ("dead", "Tobias Crane died in the night, alone in the bailiff's house."),
}
# Passages that break each fact, in several phrasings (the story's own facts above).
BREAKS = {
    "dead": [
        '"Mend the tower clock before the fair," said Tobias Crane, leaning on the workshop door.',
        "Tobias Crane walked up the hill to the tower and waited for her there.",
        "Tobias Crane laughed and handed her the key to the tower.",
        '"You are late again," Tobias Crane told her.',
    ],
    "eyes": [
        "Nora Fairley turned her blue eyes to the window.",
        "Nora Fairley's brown eyes were wet when she looked at the clock.",
        "Her green eyes narrowed; Nora Fairley did not believe him.",
    ],
    "kin": [
        "Edith Fairley, Nora's wife, kept the accounts of the workshop.",
        "Nora Fairley's mother, Edith Fairley, came in with the ledger.",
        "Edith Fairley, her daughter, kept the accounts.",
    ],
}
NAMES = {"dead": "Tobias Crane", "eyes": "Nora Fairley", "kin": "Edith Fairley"}


def sample_sentences() -> list[str]:
    """Sentences of Moby Dick (shared data) that name no one and quote nobody: the
    filler between the facts and their breaks, so that only the script's own names are
    people."""
    if not FILLER.is_file():
        raise SystemExit(f"shared data not found: {FILLER}")
    text = FILLER.read_text(encoding="utf-8")[20000:1100000]
    lower = set(re.findall(r"\b[a-z]+\b", text))  # a first word also written in lower case is no name
    sents = [" ".join(s.split()) for s in re.split(r"(?<=[.!?])\s+", text)]
    return [
        s
        for s in sents
        if 8 <= len(s.split()) <= 40
        and not re.search(r"[\"“”‘’]", s)
        and not any(w[:1].isupper() for w in s.split()[1:])
        and s.split()[0].strip(",;").lower() in lower
    ]


@dataclass
class FactBreaker:
    """``(messages, sampling) -> str`` for ScriptedChatModel (see the module's doc)."""

    p: float
    seed: int
    sentences: list[str] = field(default_factory=sample_sentences)
    passages: int = 0
    written: list[tuple[str, str | None]] = field(default_factory=list)  # (breaking sentence or "", kind or None)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def __call__(self, messages: list[dict[str, str]], sampling: Any) -> str:
        last = messages[-1]["content"]
        if '"chapters"' in last:
            return json.dumps(PLAN)
        if '"done"' in last:
            return '{"done": false}'
        index = len(self.written)  # facts come first, before anything can be rejected for them
        start = (self.passages * 5) % len(self.sentences)
        filler = [self.sentences[(start + k) % len(self.sentences)] for k in range(5)]
        self.passages += 1
        stated = [kind for i, (kind, _) in FACTS.items() if i < index]
        pins = last.split("write it again without contradicting them:")[-1] if "without contradicting" in last else ""
        allowed = [k for k in stated if NAMES[k] + ":" not in pins]
        broke: str | None = None
        sentence = ""
        if index in FACTS:
            filler.insert(0, FACTS[index][1])
        elif allowed and self.rng.random() < self.p:
            broke = self.rng.choice(allowed)
            sentence = self.rng.choice(BREAKS[broke])
            filler.insert(2, sentence)  # inside the passage, where no trimming of its end reaches
        text = " ".join(filler)
        self.written.append((sentence, broke))
        return text


def _passage_counts(home: Path, story: str, breaker: FactBreaker) -> tuple[int, dict[str, int], list[dict[str, Any]]]:
    settings = get_settings(home=home)
    with StoryMemory.open(settings, story, embedder=HashEmbedder(64)) as memory:
        texts = [r.text for r in memory.latest().records()]
        found = check_story(memory)
        reports = [c.to_json(0) for c in found]
    kept: dict[str, int] = {}
    for text in texts:  # a breaking passage is kept when its breaking sentence is in the manuscript
        for kind in {kind for sentence, kind in breaker.written if kind and sentence in text}:
            kept[kind] = kept.get(kind, 0) + 1
    return len(texts), kept, reports


def run_scripted(chunks: int, p: float, seed: int, mode: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="automuse-contgen-") as tmp:
        home = Path(tmp)
        settings = get_settings(home=home)
        breaker = FactBreaker(p, seed)
        opts = options_from_settings(settings, chunks, continuity=mode, retries=6)
        t0 = time.perf_counter()
        result = generate_story(
            settings,
            "gen",
            PREMISE,
            chunks=chunks,
            llm=ScriptedChatModel(breaker),
            embedder=HashEmbedder(64),
            analysis_llm="extractive",
            options=opts,
        )
        seconds = time.perf_counter() - t0
        n, kept, reports = _passage_counts(home, "gen", breaker)
    broken = {k: sum(1 for _, b in breaker.written if b == k) for k in BREAKS}
    return {
        "mode": mode,
        "chunks": n,
        "written": len(breaker.written),
        "broken": broken,
        "kept": kept,
        "rejections": result.continuity_rejections,
        "reports": len(reports),
        "seconds": seconds,
    }


def render_scripted(rows: list[dict[str, Any]], p: float, seed: int) -> list[str]:
    lines = [
        f"Scripted fact-breaking writer: facts stated at chunks 1-3, then each passage breaks one with probability {p} "
        f"(seed {seed}); it obeys a pinned fact. Extractive analysis, hash embeddings. Command: "
        f"`.venv/bin/python benchmarks/continuity_gen.py scripted --chunks {rows[0]['chunks']} --p {p} --seed {seed}`.",
        "",
        "| --continuity | chunks | passages written | breaking passages written (dead / eyes / kin) | rejected for continuity "
        "| breaking passages kept (dead / eyes / kin) | kept per 100 chunks | checker reports on the manuscript per 100 chunks | seconds |",
        "| --- | ---: | ---: | --- | ---: | --- | ---: | ---: | ---: |",
    ]
    for r in rows:
        b, k = r["broken"], r["kept"]
        kept = sum(k.values())
        lines.append(
            f"| {r['mode']} | {r['chunks']} | {r['written']} | {sum(b.values())} ({b['dead']} / {b['eyes']} / {b['kin']}) "
            f"| {r['rejections']} | {kept} ({k.get('dead', 0)} / {k.get('eyes', 0)} / {k.get('kin', 0)}) "
            f"| {100 * kept / r['chunks']:.1f} | {100 * r['reports'] / r['chunks']:.1f} | {r['seconds']:.0f} |"
        )
    return lines


def premises(n: int) -> list[str]:
    """The first ``n`` premises of the shared data (one per file, in name order)."""
    folder = REPO.parent / "shared" / "data" / "premises"
    files = sorted(folder.glob("*.txt"))
    if not files:
        raise SystemExit(f"no premises under {folder}")
    return [f.read_text(encoding="utf-8").strip() for f in files[:n]]


def run_local(n_premises: int, chunks: int, mode: str) -> dict[str, Any]:
    total_chunks, reports, rejections, seconds = 0, 0, 0, 0.0
    for i, premise in enumerate(premises(n_premises)):
        with tempfile.TemporaryDirectory(prefix="automuse-contgen-") as tmp:
            home = Path(tmp)
            settings = get_settings(home=home)
            opts = options_from_settings(settings, chunks, continuity=mode)
            t0 = time.perf_counter()
            result = generate_story(
                settings, f"p{i}", premise, chunks=chunks, llm="local", embedder=HashEmbedder(64), options=opts
            )
            seconds += time.perf_counter() - t0
            rejections += result.continuity_rejections
            with StoryMemory.open(settings, f"p{i}", embedder=HashEmbedder(64)) as memory:
                total_chunks += len(memory.latest().records())
                reports += len(check_story(memory))
    return {"mode": mode, "chunks": total_chunks, "reports": reports, "rejections": rejections, "seconds": seconds}


def render_local(rows: list[dict[str, Any]], n_premises: int, chunks: int) -> list[str]:
    lines = [
        f"Embedded model (SmolLM2-135M), {n_premises} premises of the shared data x {chunks} chunks, hash embeddings. "
        f"Command: `.venv/bin/python benchmarks/continuity_gen.py local --premises {n_premises} --chunks {chunks}`.",
        "",
        "| --continuity | chunks | rejected for continuity | checker reports on the manuscript | per 100 chunks | seconds |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['mode']} | {r['chunks']} | {r['rejections']} | {r['reports']} "
            f"| {100 * r['reports'] / max(1, r['chunks']):.1f} | {r['seconds']:.0f} |"
        )
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("writer", choices=["scripted", "local"])
    ap.add_argument("--chunks", type=int, default=None)
    ap.add_argument("--p", type=float, default=0.3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--premises", type=int, default=2)
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    if args.writer == "scripted":
        chunks = args.chunks or 100
        rows = [run_scripted(chunks, args.p, args.seed, mode) for mode in ("off", "retry")]
        lines = render_scripted(rows, args.p, args.seed)
        section = "bench:continuity-gen"
    else:
        chunks = args.chunks or 20
        rows = [run_local(args.premises, chunks, mode) for mode in ("off", "retry")]
        lines = render_local(rows, args.premises, chunks)
        section = "bench:continuity-gen-local"
    body = "\n".join(lines)
    print(body)
    if args.write:
        write_section(REPO / "docs" / "benchmarks.md", section, body)


if __name__ == "__main__":
    main()
