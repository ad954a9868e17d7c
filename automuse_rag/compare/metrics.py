"""Metrics of ``automuse compare`` and the position helpers they need.

- entity recall: of the characters and places named in chunk ``i + 1`` that were
  already known by chunk ``i``, the share that the context names (by any name or
  alias known as of ``i``; whole words, case-sensitive);
- next-chunk likelihood: mean negative log-likelihood per token of chunk ``i + 1``
  given the context, from a model with ``continuation_nll`` (``LogprobModel``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from automuse_rag.errors import InputError, ModelError
from automuse_rag.lore.entity import Entity
from automuse_rag.memory.api import StoryView
from automuse_rag.models.base import ChatModel, LogprobModel

RECALL_KINDS: frozenset[str] = frozenset({"character", "place"})
DEFAULT_MAX_POSITIONS = 300


# --- positions --------------------------------------------------------------------------


def even_sample(items: Sequence[int], n: int) -> list[int]:
    """``n`` items spread evenly over ``items`` (first and last included), in order."""
    if n <= 0 or not items:
        return []
    if n >= len(items):
        return list(items)
    if n == 1:
        return [items[len(items) // 2]]
    step = (len(items) - 1) / (n - 1)
    return sorted({items[round(k * step)] for k in range(n)})


def parse_positions(spec: str | None, n_chunks: int, max_positions: int = DEFAULT_MAX_POSITIONS) -> list[int]:
    """Chunk positions to evaluate, from ``all`` (default), ``START:STOP[:STEP]`` or
    ``I,J,K``. A position ``i`` needs chunk ``i + 1``, so valid positions are
    ``0 .. n_chunks - 2``; out-of-range ones in a range are dropped, in a list they are
    an error. ``all`` on a story longer than ``max_positions`` positions samples
    ``max_positions`` of them evenly."""
    valid = list(range(max(0, n_chunks - 1)))
    if not valid:
        raise InputError(f"the story has {n_chunks} chunk(s); comparing needs at least 2")
    spec = (spec or "all").strip().lower()
    if spec == "all":
        return even_sample(valid, max_positions) if len(valid) > max_positions else valid
    try:
        if ":" in spec:
            parts = [p.strip() for p in spec.split(":")]
            if len(parts) > 3:
                raise ValueError
            start = int(parts[0]) if parts[0] else 0
            stop = int(parts[1]) if len(parts) > 1 and parts[1] else len(valid)
            step = int(parts[2]) if len(parts) > 2 and parts[2] else 1
            if step <= 0:
                raise ValueError
            out = [i for i in range(start, stop, step) if 0 <= i < len(valid)]
        else:
            out = sorted({int(p) for p in spec.split(",") if p.strip()})
            bad = [i for i in out if not 0 <= i < len(valid)]
            if bad:
                raise InputError(f"position {bad[0]} is out of range: positions run 0..{len(valid) - 1} for {n_chunks} chunks")
    except ValueError:
        raise InputError(f"bad --positions {spec!r}: use 'all', 'START:STOP', 'START:STOP:STEP' or 'I,J,K'") from None
    if not out:
        raise InputError(f"--positions {spec!r} selects no position in 0..{len(valid) - 1}")
    return out


# --- entity recall ----------------------------------------------------------------------


@dataclass(frozen=True)
class RecallTarget:
    """An entity named in chunk ``i + 1`` and known by ``i``, with its names as of ``i``."""

    id: str
    name: str
    names: tuple[str, ...]


def recall_targets(entities_next: Iterable[Entity], i: int) -> list[RecallTarget]:
    """From entities as of ``i + 1``: characters and places mentioned in chunk ``i + 1``
    whose first mention is at or before ``i``, with the names known as of ``i``."""
    targets = []
    for ent in entities_next:
        if ent.kind not in RECALL_KINDS or (i + 1) not in ent.mentions or ent.first_chunk > i:
            continue
        known = ent.at(i)
        if known is None:
            continue
        names = tuple(n for n in known.names() if n.strip())
        if names:
            targets.append(RecallTarget(known.id, known.name, names))
    return targets


def names_in(text: str, names: Iterable[str]) -> bool:
    """Whether any of ``names`` appears in ``text`` as whole words (case-sensitive)."""
    for name in names:
        if re.search(r"(?<!\w)" + re.escape(name) + r"(?!\w)", text):
            return True
    return False


def entity_recall(context: str, targets: Sequence[RecallTarget]) -> float | None:
    """Share of ``targets`` the context names; ``None`` when there is no target."""
    if not targets:
        return None
    return sum(names_in(context, t.names) for t in targets) / len(targets)


def recall_targets_for(story: StoryView, i: int) -> list[RecallTarget]:
    """Recall targets at position ``i`` of a story (a ``StoryView``)."""
    return recall_targets(story.at(i + 1).entities(), i)


# --- next-chunk likelihood --------------------------------------------------------------


def has_logprobs(model: object) -> bool:
    return callable(getattr(model, "continuation_nll", None))


def continuation_nll(model: ChatModel, context: str, continuation: str) -> tuple[float, int]:
    """Mean NLL per token of ``continuation`` after ``context`` and its token count,
    checked to be a finite number."""
    if not isinstance(model, LogprobModel) or not has_logprobs(model):
        raise ModelError(
            f"the model {getattr(model, 'name', model)!r} gives no log-probabilities; "
            "use --llm local (or a server with prompt logprobs) or --nll-samples 0"
        )
    nll, n = model.continuation_nll(context, continuation)
    nll = float(nll)
    if not math.isfinite(nll):
        raise ModelError(f"the model returned a non-finite log-likelihood ({nll}) for a continuation")
    return nll, int(n)


def mean(values: Iterable[float | None]) -> float | None:
    xs = [v for v in values if v is not None]
    return sum(xs) / len(xs) if xs else None


# --- paired comparison ------------------------------------------------------------------

BOOTSTRAP_RESAMPLES = 5000


def paired_differences(
    positions: Sequence[int],
    values: Sequence[float | None],
    base_positions: Sequence[int],
    base_values: Sequence[float | None],
) -> list[float]:
    """``value - base`` at every position where both were scored, in position order."""
    base = {p: v for p, v in zip(base_positions, base_values) if v is not None}
    return [v - base[p] for p, v in zip(positions, values) if v is not None and p in base]


def bootstrap_ci(
    diffs: Sequence[float], level: float = 0.95, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0
) -> tuple[float, float] | None:
    """Percentile bootstrap interval of the mean of ``diffs`` (resampling positions with
    replacement, a fixed seed so a report is reproducible); ``None`` below 2 values."""
    if len(diffs) < 2:
        return None
    import numpy as np

    x = np.asarray(diffs, dtype=np.float64)
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, len(x), size=(resamples, len(x)))].mean(axis=1)
    tail = (1.0 - level) / 2 * 100
    lo, hi = np.percentile(means, [tail, 100 - tail])
    return float(lo), float(hi)


def paired_nll(result: Any, base: Any, baseline: str = "last_chunk") -> dict[str, Any] | None:
    """NLL of ``result`` minus ``base``'s (two results with ``positions`` and ``nll``)
    paired by position: mean difference, its bootstrap 95% interval, and at how many
    positions ``result`` is better (lower). ``None`` when no position pairs."""
    diffs = paired_differences(result.positions, result.nll, base.positions, base.nll)
    if not diffs:
        return None
    ci = bootstrap_ci(diffs)
    return {
        "baseline": baseline,
        "n": len(diffs),
        "mean_diff": sum(diffs) / len(diffs),
        "ci95": list(ci) if ci else None,
        "better_at": sum(d < 0 for d in diffs),
    }
