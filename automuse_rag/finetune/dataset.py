"""Fine-tuning data export: one sample per chunk position of one or more stories.

The sample for chunk ``p`` pairs the prompt built as of ``p - 1`` (the prompt that
precedes chunk ``p``; for ``p = 0`` nothing is written yet) with chunk ``p`` as the
completion. Formats:

* ``completion``: ``{"prompt": ..., "completion": ...}`` (the original experiment's form);
* ``chat``: ``{"messages": [system, user, assistant]}`` as OpenAI's fine-tuning
  expects: the chat template's system sections (instructions, outline, lore,
  memories) in the system message, its user sections (last chunk, cue) in the user
  message, the next chunk as the assistant's message.

Every sample is validated (prompt within the budget, completion non-empty and within
its limit, JSON that round-trips) and audited for future leakage: every bullet in
its lore and memory sections must be an as-of card or summary from chunks
``<= p - 1``, recomputed from the store independently of retrieval, and every
decision's source chunk must be ``<= p - 1`` (:mod:`automuse_rag.finetune.leakage`). Invalid samples are left out and
counted. Files are written to a temporary name and renamed, so an interrupted run
leaves any earlier file intact. With a validation fraction, the validation samples
go to ``NAME.val.jsonl`` beside ``NAME.jsonl``; the split is a seeded shuffle of the
samples, so the same seed gives the same split. ``NAME.meta.json`` records the
stories, format, budget, the audit's verdict and each file's SHA-256, so that
``automuse finetune`` can check a file it is given came from a clean export.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import random
import statistics
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from automuse_rag import __version__
from automuse_rag.assemble.assembler import AssembledPrompt
from automuse_rag.assemble.budget import CountTokens, memo_counter
from automuse_rag.assemble.retrieve import build_prompt
from automuse_rag.assemble.templates import Template, load_template
from automuse_rag.errors import InputError
from automuse_rag.finetune.leakage import Truth, audit_leakage
from automuse_rag.fsutil import JsonlWriter, write_json_atomic
from automuse_rag.memory.api import StoryView

FORMATS = ("completion", "chat")
DEFAULT_COMPLETION_LIMIT = 1024
Progress = Callable[[int, int], None]


@dataclass
class Sample:
    """One training sample: the prompt as of ``position - 1`` and chunk ``position``."""

    story: str
    position: int
    prompt: AssembledPrompt
    completion: str
    completion_tokens: int
    problems: list[str] = field(default_factory=list)
    leaks: list[str] = field(default_factory=list)

    def record(self, fmt: str) -> dict[str, Any]:
        """The JSONL record in ``fmt`` ("completion" or "chat")."""
        if fmt == "completion":
            return {"prompt": self.prompt.text, "completion": self.completion}
        system, user = self.prompt.messages()
        return {
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": user},
                {"role": "assistant", "content": self.completion},
            ]
        }


@dataclass
class DatasetSummary:
    """What an export wrote, with token statistics and the audit's result."""

    format: str
    budget: int
    samples: int
    train: int
    validation: int
    train_path: str
    validation_path: str | None
    prompt_tokens: dict[str, float]
    completion_tokens: dict[str, float]
    fates: dict[str, dict[str, int]]
    drop_reasons: dict[str, int]
    leakage_checked: int
    leakage_violations: int
    leaks: list[str]
    invalid: int
    invalid_reasons: list[str]
    per_story: dict[str, int]
    duplicates: int = 0
    split_by: str = "sample"  # "book" (whole stories held out) with two stories or more
    split: dict[str, dict[str, int]] = field(default_factory=dict)  # story -> train and validation samples

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


# -- validation ------------------------------------------------------------------


def validate(sample: Sample, fmt: str, budget: int, limit: int, count_tokens: CountTokens) -> list[str]:
    """Problems with a sample ([] when valid)."""
    problems = []
    tokens = count_tokens(sample.prompt.text)
    if tokens > budget:
        problems.append(f"prompt has {tokens} tokens, over the budget of {budget}")
    if not sample.completion.strip():
        problems.append("empty completion")
    if sample.completion_tokens > limit:
        problems.append(f"completion has {sample.completion_tokens} tokens, over the limit of {limit}")
    record = sample.record(fmt)
    if fmt == "chat" and not all(m["content"] for m in record["messages"]):
        problems.append("a chat message is empty (the template needs system and user sections)")
    if json.loads(json.dumps(record, ensure_ascii=False)) != record:
        problems.append("record does not round-trip through JSON")
    return problems


# -- building --------------------------------------------------------------------


def make_samples(
    story: StoryView,
    *,
    budget: int,
    count_tokens: CountTokens,
    template: Template,
    completion_limit: int = DEFAULT_COMPLETION_LIMIT,
    fmt: str = "completion",
) -> Iterator[Sample]:
    """One validated, audited sample per chunk position of ``story``."""
    truth = Truth(story)
    for rec in truth.records:
        at = rec.index - 1
        prompt = build_prompt(story.at(at), budget=budget, count_tokens=count_tokens, template=template)
        sample = Sample(story.name, rec.index, prompt, rec.text.strip(), count_tokens(rec.text.strip()))
        sample.problems = validate(sample, fmt, budget, completion_limit, count_tokens)
        sample.leaks = audit_leakage(truth, at, prompt, template)
        yield sample


def split_validation(n: int, fraction: float, seed: int) -> set[int]:
    """Indices of the validation samples: a seeded shuffle, ``round(n * fraction)``
    of them (at least one when the fraction is positive and n >= 2)."""
    if not 0.0 <= fraction < 1.0:
        raise InputError(f"--val-fraction must be in [0, 1), got {fraction}")
    size = round(n * fraction)
    if fraction > 0 and n >= 2:
        size = max(1, size)
    order = list(range(n))
    random.Random(seed).shuffle(order)
    return set(order[:size])


def validation_path(out: Path) -> Path:
    """Where validation samples go: ``data.jsonl`` -> ``data.val.jsonl``."""
    return out.with_name(out.stem + ".val" + (out.suffix or ".jsonl"))


def meta_path(out: Path) -> Path:
    """The export's sidecar: ``data.jsonl`` -> ``data.meta.json``."""
    return out.with_name(out.stem + ".meta.json")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_meta(summary: DatasetSummary, stories: list[str], *, val_fraction: float, seed: int) -> Path:
    """Write ``OUT.meta.json`` beside the export: what it holds and whether the leakage
    audit passed, with the SHA-256 of each file written (so an edited file is noticed)."""
    out = Path(summary.train_path)
    files = {out.name: file_sha256(out)}
    if summary.validation_path:
        files[Path(summary.validation_path).name] = file_sha256(Path(summary.validation_path))
    meta = {
        "tool": "automuse dataset",
        "version": __version__,
        "stories": stories,
        "format": summary.format,
        "budget": summary.budget,
        "samples": summary.samples,
        "train": summary.train,
        "validation": summary.validation,
        "split_by": summary.split_by,
        "per_story": summary.split,
        "duplicates": summary.duplicates,
        "val_fraction": val_fraction,
        "seed": seed,
        "leakage_checked": summary.leakage_checked,
        "leakage_violations": summary.leakage_violations,
        "audit": "failed" if summary.leakage_violations else "passed",
        "files": files,
    }
    path = meta_path(out)
    write_json_atomic(path, meta)
    return path


def _stats(values: list[int]) -> dict[str, float]:
    if not values:
        return {"min": 0, "median": 0, "max": 0}
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def _reason_kind(reason: str) -> str:
    for key in ("near-duplicate", "last chunk", "no room", "final count", "template has no"):
        if key in reason:
            return key
    return reason.split(":")[0][:40]


def export_dataset(
    stories: Sequence[StoryView],
    out: Path,
    *,
    budget: int,
    count_tokens: CountTokens,
    fmt: str = "completion",
    val_fraction: float = 0.1,
    seed: int = 0,
    template: Template | None = None,
    completion_limit: int = DEFAULT_COMPLETION_LIMIT,
    progress: Progress | None = None,
) -> DatasetSummary:
    """Write the dataset for ``stories`` (open already) to ``out``: :func:`export_corpus`."""
    by_name = {s.name: s for s in stories}
    return export_corpus(
        list(by_name),
        lambda name: contextlib.nullcontext(by_name[name]),
        out,
        budget=budget,
        count_tokens=count_tokens,
        fmt=fmt,
        val_fraction=val_fraction,
        seed=seed,
        template=template,
        completion_limit=completion_limit,
        progress=progress,
        total=sum(len(s) for s in stories),
    )


def export_corpus(
    names: list[str],
    open_story: Callable[[str], AbstractContextManager[StoryView]],
    out: Path,
    *,
    budget: int,
    count_tokens: CountTokens,
    fmt: str = "completion",
    val_fraction: float = 0.1,
    seed: int = 0,
    template: Template | None = None,
    completion_limit: int = DEFAULT_COMPLETION_LIMIT,
    progress: Progress | None = None,
    total: int = 0,
) -> DatasetSummary:
    """Write the dataset of stories ``names`` to ``out`` (and its validation split) and
    summarise it. Raises InputError for a bad format, fraction or output path.

    Streamed: one story is open at a time (``open_story``) and its samples go to the
    files as they are made, so memory does not grow with the number of stories. With
    two stories or more the split is by book (a seeded choice of whole stories: none
    is in both files); one story is split by sample. Identical samples are written once."""
    if fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r}; choose completion or chat")
    if out.is_dir() or not out.parent.is_dir():
        raise InputError(f"cannot write the dataset to {out} (not a file in an existing directory)")
    template = template or load_template("chat" if fmt == "chat" else "default")
    split_validation(0, val_fraction, seed)  # reject a bad fraction before the slow part
    count_tokens = memo_counter(count_tokens)
    by_book = len(names) >= 2
    held_out = {names[i] for i in split_validation(len(names), val_fraction, seed)} if by_book else set()
    acc = _Accumulator(fmt, budget, by_book)
    val_path = validation_path(out)
    with JsonlWriter(out) as train, JsonlWriter(val_path) as valid:
        for name in names:
            with open_story(name) as story:
                samples = []
                for sample in make_samples(
                    story, budget=budget, count_tokens=count_tokens, template=template, completion_limit=completion_limit, fmt=fmt
                ):
                    samples.append(acc.take(sample))
                    if progress:
                        progress(acc.seen, max(total, acc.seen))
            kept = [(s, r) for s, r in samples if r is not None]
            val = (
                set(range(len(kept)))
                if name in held_out
                else set()
                if by_book
                else split_validation(len(kept), val_fraction, seed)
            )
            for i, (sample, record) in enumerate(kept):
                (valid if i in val else train).write(record)
                acc.counted(sample.story, i in val)
        if not valid.count:
            valid.discard()
    summary = acc.summary(out, val_path if valid.count else None, train.count, valid.count)
    write_meta(summary, names, val_fraction=val_fraction, seed=seed)
    return summary


class _Accumulator:
    """What the summary needs of the samples seen (numbers, never the samples), and the
    digests of the records written (identical samples are written once)."""

    def __init__(self, fmt: str, budget: int, by_book: bool) -> None:
        self.fmt, self.budget, self.by_book = fmt, budget, by_book
        self.seen = self.duplicates = self.invalid = self.leak_count = 0
        self.digests: set[bytes] = set()
        self.prompt_tokens: list[int] = []
        self.completion_tokens: list[int] = []
        self.fates: dict[str, Counter[str]] = {}
        self.reasons: Counter[str] = Counter()
        self.leaks: list[str] = []
        self.invalid_reasons: list[str] = []
        self.split: dict[str, dict[str, int]] = {}

    def take(self, s: Sample) -> tuple[Sample, str | None]:
        """Count ``s``; its JSONL line if it is to be written (valid, not a duplicate)."""
        self.seen += 1
        for d in s.prompt.decisions:
            self.fates.setdefault(d.section, Counter())[d.fate] += 1
            if d.fate == "dropped":
                self.reasons[_reason_kind(d.reason)] += 1
        self.leak_count += len(s.leaks)
        self.leaks += [f"{s.story}@{s.position}: {leak}" for leak in s.leaks][: max(0, 20 - len(self.leaks))]
        if s.problems:
            self.invalid += 1
            if len(self.invalid_reasons) < 20:
                self.invalid_reasons.append(f"{s.story}@{s.position}: {'; '.join(s.problems)}")
            return s, None
        line = json.dumps(s.record(self.fmt), ensure_ascii=False)
        digest = hashlib.blake2b(line.encode("utf-8"), digest_size=12).digest()
        if digest in self.digests:
            self.duplicates += 1
            return s, None
        self.digests.add(digest)
        self.prompt_tokens.append(s.prompt.tokens)
        self.completion_tokens.append(s.completion_tokens)
        return s, line

    def counted(self, story: str, validation: bool) -> None:
        row = self.split.setdefault(story, {"train": 0, "validation": 0})
        row["validation" if validation else "train"] += 1

    def summary(self, out: Path, val_path: Path | None, train: int, valid: int) -> DatasetSummary:
        return DatasetSummary(
            format=self.fmt,
            budget=self.budget,
            samples=train + valid,
            train=train,
            validation=valid,
            train_path=str(out),
            validation_path=str(val_path) if val_path else None,
            prompt_tokens=_stats(self.prompt_tokens),
            completion_tokens=_stats(self.completion_tokens),
            fates={k: dict(v) for k, v in sorted(self.fates.items())},
            drop_reasons=dict(self.reasons.most_common()),
            leakage_checked=self.seen,
            leakage_violations=self.leak_count,
            leaks=self.leaks,
            invalid=self.invalid,
            invalid_reasons=self.invalid_reasons,
            per_story={k: v["train"] + v["validation"] for k, v in self.split.items()},
            duplicates=self.duplicates,
            split_by="book" if self.by_book else "sample",
            split=self.split,
        )
