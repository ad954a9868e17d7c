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
decision's source chunk must be ``<= p - 1``. Invalid samples are left out and
counted. Files are written to a temporary name and renamed, so an interrupted run
leaves any earlier file intact. With a validation fraction, the validation samples
go to ``NAME.val.jsonl`` beside ``NAME.jsonl``; the split is a seeded shuffle of the
samples, so the same seed gives the same split. ``NAME.meta.json`` records the
stories, format, budget, the audit's verdict and each file's SHA-256, so that
``automuse finetune`` can check a file it is given came from a clean export.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import statistics
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from automuse_rag import __version__
from automuse_rag.assemble.assembler import AssembledPrompt, bullet
from automuse_rag.assemble.budget import CountTokens, memo_counter
from automuse_rag.assemble.retrieve import CAST_HEAD, build_prompt, card_with_links, first_sentence
from automuse_rag.assemble.templates import Template, load_template
from automuse_rag.errors import InputError
from automuse_rag.fsutil import write_json_atomic
from automuse_rag.lore.entity import Entity
from automuse_rag.memory.api import AnalysedStory, StoryView
from automuse_rag.memory.oracle import NaiveLore
from automuse_rag.memory.types import Edges

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

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


# -- the audit -------------------------------------------------------------------


class Truth:
    """What a story holds, read once with no as-of filter, from which the audit derives
    each position's allowed memories by itself, without trusting the store's or
    retrieval's as-of code: for a store with analyses, its own fold of them
    (:class:`~automuse_rag.memory.oracle.NaiveLore`); for a double built from entity
    histories, ``Entity.at`` and the edges' chunk lists."""

    def __init__(self, story: StoryView) -> None:
        whole = story.latest()
        self.records = whole.records()
        analyses = story.analyses() if isinstance(story, AnalysedStory) else []
        self.naive = NaiveLore(analyses, "fold") if analyses else None
        if self.naive is None:
            self.entities = {e.id: e for e in whole.entities()}
            self.graph = whole.graph()
        first: dict[str, int] = {}
        for rec in self.records:
            for line in (bullet(rec.summary), bullet(first_sentence(rec.summary))):
                first.setdefault(line, rec.index)
        self._memory_first = first
        self._names: tuple[int, set[str]] = (-2, set())
        self._seen: tuple[int, dict[str, Entity | None]] = (-2, {})

    def _edges(self, eid: str, at: int) -> Edges:
        if self.naive is not None:
            return self.naive.edges(eid, at)
        out: Edges = {}
        for other, data in self.graph[eid].items() if eid in self.graph else []:
            chunks = [c for c in data.get("chunks", []) if c <= at]
            view = self.entities[other].at(at) if other in self.entities else None
            if chunks and view is not None:
                rels = [r for r in data.get("relations", []) if r["chunk"] <= at]
                out[other] = {"chunks": chunks, "weight": len(chunks), "relations": rels}
        return out

    def _view(self, eid: str, at: int) -> Entity | None:
        if self._seen[0] != at:  # one position's views, read once each (cards share neighbours)
            self._seen = (at, {})
        memo = self._seen[1]
        if eid not in memo:
            if self.naive is not None:
                got = self.naive.entities(at, [eid])
                memo[eid] = got[0] if got else None
            else:
                ent = self.entities.get(eid)
                memo[eid] = ent.at(at) if ent is not None else None
        return memo[eid]

    def lore_allowed(self, at: int, ids: set[str]) -> set[str]:
        """The lore bullets a prompt as of ``at`` may show for entities ``ids``: their
        as-of cards (full, with links, and one-line)."""
        out: set[str] = set()
        for eid in ids:
            view = self._view(eid, at)
            if view is None:
                continue
            edges = self._edges(eid, at)
            if self.naive is not None:
                known = self.naive.known(at)
                names = {o: known[o] for o in edges if o in known}
            else:
                names = {o: v.name for o in edges if (v := self._view(o, at)) is not None}
            out |= {bullet(card_with_links(view, edges, names)), bullet(view.one_line())}
        return out

    def names_known(self, at: int) -> set[str]:
        """The names entities go by as of ``at`` (what a cast line may list)."""
        if self._names[0] != at:
            if self.naive is not None:
                names = set(self.naive.known(at).values())
            else:
                names = {v.name for e in self.entities.values() if (v := e.at(at)) is not None}
            self._names = (at, names)
        return self._names[1]

    def memory_allowed(self, line: str, at: int) -> bool:
        return self._memory_first.get(line, at + 1) <= at


def _section_bullets(prompt: AssembledPrompt, template: Template, section: str) -> list[str]:
    text = prompt.sections.get(section, "")
    spec = template.section(section)
    if not text or spec is None:
        return []
    head, foot = spec.frame()
    body = text[len(head) : len(text) - len(foot) if foot else None]
    return [line for line in body.split("\n") if line]


def audit_leakage(truth: Truth, at: int, prompt: AssembledPrompt, template: Template) -> list[str]:
    """Violations of the as-of rule in a prompt built as of ``at`` ([] when clean)."""
    leaks = [
        f"{d.candidate_id} comes from chunk {d.chunk} > {at}" for d in prompt.decisions if d.fate != "dropped" and d.chunk > at
    ]
    if at < 0:
        lines = _section_bullets(prompt, template, "lore") + _section_bullets(prompt, template, "memories")
        return leaks + [f"line shown before the story began: {line[:60]!r}" for line in lines]
    ids = {
        d.candidate_id.removeprefix("entity:")
        for d in prompt.decisions
        if d.candidate_id.startswith("entity:") and d.fate != "dropped"
    }
    lore_ok = truth.lore_allowed(at, ids)
    cast_head = bullet(CAST_HEAD).rstrip()
    for line in _section_bullets(prompt, template, "lore"):
        if line.startswith(cast_head) and line.endswith("."):
            names = line[len(cast_head) :].strip().removesuffix(".").split("; ")
            unknown = [n for n in names if n not in truth.names_known(at)]
            if unknown:
                leaks.append(f"cast line names {unknown[0]!r}, unknown as of chunk {at}")
        elif line not in lore_ok:
            leaks.append(f"lore line is not known as of chunk {at}: {line[:60]!r}")
    for line in _section_bullets(prompt, template, "memories"):
        if not truth.memory_allowed(line, at):
            leaks.append(f"memories line is not known as of chunk {at}: {line[:60]!r}")
    return leaks


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


def _write_jsonl(path: Path, records: Iterable[dict[str, Any]]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    try:
        with tmp.open("w", encoding="utf-8") as fh:
            for record in records:
                fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


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
    stories: list[StoryView],
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
    """Write the dataset for ``stories`` to ``out`` (and its validation split) and
    summarise it. Raises InputError for a bad format, fraction or output path."""
    if fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r}; choose completion or chat")
    if out.is_dir() or not out.parent.is_dir():
        raise InputError(f"cannot write the dataset to {out} (not a file in an existing directory)")
    template = template or load_template("chat" if fmt == "chat" else "default")
    split_validation(0, val_fraction, seed)  # reject a bad fraction before the slow part
    count_tokens = memo_counter(count_tokens)
    total = sum(len(s) for s in stories)
    samples: list[Sample] = []
    for story in stories:
        for sample in make_samples(
            story, budget=budget, count_tokens=count_tokens, template=template, completion_limit=completion_limit, fmt=fmt
        ):
            samples.append(sample)
            if progress:
                progress(len(samples), total)
    summary = _finish(samples, out, fmt, budget, split_validation(sum(not s.problems for s in samples), val_fraction, seed))
    write_meta(summary, [s.name for s in stories], val_fraction=val_fraction, seed=seed)
    return summary


def _finish(samples: list[Sample], out: Path, fmt: str, budget: int, val: set[int]) -> DatasetSummary:
    good = [s for s in samples if not s.problems]
    val_path = validation_path(out)
    train = [s.record(fmt) for i, s in enumerate(good) if i not in val]
    valid = [s.record(fmt) for i, s in enumerate(good) if i in val]
    _write_jsonl(out, train)
    if valid:
        _write_jsonl(val_path, valid)
    fates: dict[str, Counter[str]] = {}
    reasons: Counter[str] = Counter()
    for s in samples:
        for d in s.prompt.decisions:
            fates.setdefault(d.section, Counter())[d.fate] += 1
            if d.fate == "dropped":
                reasons[_reason_kind(d.reason)] += 1
    leaks = [f"{s.story}@{s.position}: {leak}" for s in samples for leak in s.leaks]
    return DatasetSummary(
        format=fmt,
        budget=budget,
        samples=len(good),
        train=len(train),
        validation=len(valid),
        train_path=str(out),
        validation_path=str(val_path) if valid else None,
        prompt_tokens=_stats([s.prompt.tokens for s in good]),
        completion_tokens=_stats([s.completion_tokens for s in good]),
        fates={k: dict(v) for k, v in sorted(fates.items())},
        drop_reasons=dict(reasons.most_common()),
        leakage_checked=len(samples),
        leakage_violations=len(leaks),
        leaks=leaks[:20],
        invalid=len(samples) - len(good),
        invalid_reasons=[f"{s.story}@{s.position}: {'; '.join(s.problems)}" for s in samples if s.problems][:20],
        per_story=dict(Counter(s.story for s in good)),
    )
