"""The degeneration guard: a pure check of one candidate chunk before it is kept.

The original AutoMuse run fell into repeating one sentence; this guard measures the
symptoms of that failure on every candidate and rejects it when any metric is past a
threshold measured on real prose (the four shared Project Gutenberg books, 1,500
character chunks; see ``docs/guard.md`` and ``benchmarks/guard_thresholds.py``).

Metrics (all computed on the candidate text):

- ``distinct4``: unique word 4-grams / all word 4-grams (1.0 = no repetition).
- ``max_sentence_repeats``: how often the most repeated sentence (>= 3 words) occurs.
- ``repeated_sentence_share``: share of the sentences that repeat an earlier sentence
  of the same chunk.
- ``compression``: raw UTF-8 bytes / zlib-compressed bytes (prose ~2; the original's
  degenerate output rose towards 20).
- ``previous_sentence_share``: share of its sentences (>= 5 words) already present in
  an earlier chunk.
- ``previous_overlap``: the largest share of its word 8-grams found in any one earlier
  chunk (lexical near-duplicate).
- ``max_similarity``: the largest cosine similarity of its embedding to an earlier
  chunk's (only when an embedder is given and the threshold for it is calibrated).
- ``prompt_overlap`` / ``prompt_run``: share of its word 8-grams found in the prompt,
  and the longest run of words copied from the prompt.
"""

from __future__ import annotations

import math
import re
import zlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

Embed = Callable[[list[str]], list[list[float]]]

_WORD = re.compile(r"\w+(?:['’]\w+)*", re.UNICODE)
_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"'”’)\]]*\s+|\n\s*\n")
NGRAM = 8  # n of the word n-grams used for copy detection


@dataclass(frozen=True)
class Thresholds:
    """Limits past which a candidate is rejected. Defaults are the measured ones
    (docs/guard.md): each lies beyond the worst value seen in real prose."""

    min_words: int = 40  # a generation rule, not a prose statistic: a chunk must say something
    min_distinct4: float = 0.80
    max_sentence_repeats: int = 5
    max_repeated_sentence_share: float = 0.30
    max_compression: float = 2.6
    max_previous_sentence_share: float = 0.25
    max_previous_overlap: float = 0.25
    max_prompt_overlap: float = 0.25
    max_prompt_run: int = 40  # words copied verbatim from the prompt in one run
    # Embedding cosine similarity to an earlier chunk, per embedder family
    # (calibrated ones only; others skip this metric).
    max_similarity: dict[str, float] = field(default_factory=lambda: {"minilm": 0.93, "hash": 0.95})

    def similarity_limit(self, embedder_name: str | None) -> float | None:
        if not embedder_name:
            return None
        family = embedder_name.split(":", 1)[0].lower()
        return self.max_similarity.get(family)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


DEFAULT_THRESHOLDS = Thresholds()


@dataclass(frozen=True)
class GuardResult:
    ok: bool
    reasons: list[str]
    metrics: dict[str, float]


# -- metrics (pure functions over strings) ---------------------------------------


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def ngrams(tokens: Sequence[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def distinct_n(text: str, n: int = 4) -> float:
    grams = ngrams(words(text), n)
    return len(set(grams)) / len(grams) if grams else 1.0


def compression_ratio(text: str) -> float:
    raw = text.encode("utf-8")
    if not raw:
        return 1.0
    return len(raw) / len(zlib.compress(raw, 9))


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]


def _norm_sentence(sentence: str) -> str:
    return " ".join(words(sentence))


def sentence_repetition(text: str, min_words: int = 3) -> tuple[int, float]:
    """(count of the most repeated sentence, share of sentences repeating an earlier one)."""
    normed = [_norm_sentence(s) for s in sentences(text)]
    normed = [s for s in normed if len(s.split()) >= min_words]
    if not normed:
        return 0, 0.0
    counts = Counter(normed)
    repeats = sum(c - 1 for c in counts.values())
    return max(counts.values()), repeats / len(normed)


def previous_sentence_share(text: str, previous: Sequence[str], min_words: int = 5) -> float:
    mine = [_norm_sentence(s) for s in sentences(text)]
    mine = [s for s in mine if len(s.split()) >= min_words]
    if not mine or not previous:
        return 0.0
    seen = {_norm_sentence(s) for p in previous for s in sentences(p)}
    return sum(1 for s in mine if s in seen) / len(mine)


def overlap_share(text: str, other: str, n: int = NGRAM) -> float:
    """Share of ``text``'s word n-grams that also occur in ``other``."""
    mine = ngrams(words(text), n)
    if not mine:
        return 0.0
    theirs = set(ngrams(words(other), n))
    return sum(1 for g in mine if g in theirs) / len(mine)


def longest_copied_run(text: str, source: str, n: int = NGRAM) -> int:
    """Length in words of the longest run of ``text`` found verbatim (as overlapping
    word n-grams) in ``source``; 0 when no n-gram is shared."""
    mine = ngrams(words(text), n)
    theirs = set(ngrams(words(source), n))
    best = run = 0
    for g in mine:
        run = run + 1 if g in theirs else 0
        best = max(best, run)
    return best + n - 1 if best else 0


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b))
    na = math.sqrt(sum(x * x for x in a)) or 1.0
    nb = math.sqrt(sum(y * y for y in b)) or 1.0
    return dot / (na * nb)


def max_similarity(text: str, previous: Sequence[str], embed: Embed) -> float:
    if not previous:
        return 0.0
    vecs = embed([text, *previous])
    return max(cosine(vecs[0], v) for v in vecs[1:])


def measure(
    candidate: str,
    *,
    previous: Sequence[str] = (),
    prompt: str = "",
    embed: Embed | None = None,
) -> dict[str, float]:
    """Every guard metric for ``candidate`` (no thresholds applied)."""
    top, share = sentence_repetition(candidate)
    metrics: dict[str, float] = {
        "words": float(len(words(candidate))),
        "distinct4": distinct_n(candidate, 4),
        "max_sentence_repeats": float(top),
        "repeated_sentence_share": share,
        "compression": compression_ratio(candidate),
        "previous_sentence_share": previous_sentence_share(candidate, previous),
        "previous_overlap": max((overlap_share(candidate, p) for p in previous), default=0.0),
        "prompt_overlap": overlap_share(candidate, prompt) if prompt else 0.0,
        "prompt_run": float(longest_copied_run(candidate, prompt)) if prompt else 0.0,
    }
    if embed is not None:
        metrics["max_similarity"] = max_similarity(candidate, previous, embed)
    return metrics


def _reasons(m: dict[str, float], t: Thresholds, sim_limit: float | None) -> list[str]:
    checks: list[tuple[bool, str]] = [
        (m["words"] < t.min_words, f"too short: {m['words']:.0f} words < {t.min_words}"),
        (m["distinct4"] < t.min_distinct4, f"repeated n-grams: distinct-4 {m['distinct4']:.3f} < {t.min_distinct4}"),
        (
            m["max_sentence_repeats"] > t.max_sentence_repeats,
            f"repeated sentence: one sentence occurs {m['max_sentence_repeats']:.0f} times > {t.max_sentence_repeats}",
        ),
        (
            m["repeated_sentence_share"] > t.max_repeated_sentence_share,
            f"repeated sentences: {m['repeated_sentence_share']:.0%} of sentences repeat > {t.max_repeated_sentence_share:.0%}",
        ),
        (m["compression"] > t.max_compression, f"compression ratio {m['compression']:.2f} > {t.max_compression}"),
        (
            m["previous_sentence_share"] > t.max_previous_sentence_share,
            f"repeats earlier chunks: {m['previous_sentence_share']:.0%} of sentences already written > {t.max_previous_sentence_share:.0%}",
        ),
        (
            m["previous_overlap"] > t.max_previous_overlap,
            f"near-duplicate of an earlier chunk: 8-gram overlap {m['previous_overlap']:.2f} > {t.max_previous_overlap}",
        ),
        (
            m["prompt_overlap"] > t.max_prompt_overlap,
            f"copied from the prompt: 8-gram overlap {m['prompt_overlap']:.2f} > {t.max_prompt_overlap}",
        ),
        (
            m["prompt_run"] > t.max_prompt_run,
            f"copied from the prompt: a run of {m['prompt_run']:.0f} words > {t.max_prompt_run}",
        ),
    ]
    if sim_limit is not None and "max_similarity" in m:
        checks.append(
            (
                m["max_similarity"] > sim_limit,
                f"near-duplicate of an earlier chunk: embedding similarity {m['max_similarity']:.3f} > {sim_limit}",
            )
        )
    return [reason for failed, reason in checks if failed]


def check(
    candidate: str,
    *,
    previous: Sequence[str],
    prompt: str,
    embed: Embed | None,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
    embedder_name: str | None = None,
) -> GuardResult:
    """Check one candidate chunk. ``previous``: the chunks already kept (earlier in the
    story); ``prompt``: the prompt that produced it; ``embed``: an embedding function
    for the near-duplicate metric, used only when ``embedder_name``'s family has a
    calibrated threshold (``Thresholds.max_similarity``)."""
    sim_limit = thresholds.similarity_limit(embedder_name) if embed is not None else None
    metrics = measure(candidate, previous=previous, prompt=prompt, embed=embed if sim_limit is not None else None)
    reasons = _reasons(metrics, thresholds, sim_limit)
    return GuardResult(ok=not reasons, reasons=reasons, metrics=metrics)
