"""The ``extractive`` backend: no language model at all, for fast and free ingestion.

Summaries are the highest-scoring sentences of a text (word-frequency scoring, kept
in their original order); structured calls return ``None`` so callers fall back to
their own heuristics; asking it to write prose is a clear error.
"""

from __future__ import annotations

import math
import re
from collections import Counter

from automuse_rag.errors import ModelError
from automuse_rag.models.base import Capabilities, Message, Sampling
from automuse_rag.models.tokens import estimate_tokens

_SENTENCE_END = re.compile(r"(?<=[.!?])[\"'\u201d\u2019)\]]*\s+(?=[\"'\u201c\u2018(\[]?[A-Z0-9])")
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?", re.UNICODE)

# Function words carry no content; scoring ignores them.
STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has have
    having he her here hers herself him himself his how i if in into is it its itself just me more most my
    myself no nor not now of off on once only or other our ours ourselves out over own same she should so
    some such than that the their theirs them themselves then there these they this those through to too
    under until up upon very was we were what when where which while who whom why will with would you your
    yours yourself yourselves said says say one thing things""".split()
)


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text`` (whitespace normalised), split after . ! ? before a capital."""
    flat = " ".join(text.split())
    if not flat:
        return []
    return [s.strip() for s in _SENTENCE_END.split(flat) if s.strip()]


def _content_words(sentence: str) -> list[str]:
    return [w for w in (m.lower() for m in _WORD.findall(sentence)) if w not in STOPWORDS and len(w) > 1]


def sentence_scores(sentences: list[str]) -> list[float]:
    """Each sentence's score: the summed document frequency of its content words,
    divided by sqrt(word count) so long sentences don't win by length alone."""
    freq = Counter(w for s in sentences for w in _content_words(s))
    scores = []
    for sentence in sentences:
        words = _content_words(sentence)
        scores.append(sum(freq[w] for w in words) / math.sqrt(len(words)) if words else 0.0)
    return scores


def extractive_summary(text: str, max_sentences: int = 3) -> str:
    """The ``max_sentences`` highest-scoring sentences of ``text``, in original order.

    A pure function: any caller can use it as the fallback summary. Ties keep the
    earlier sentence. An empty text gives an empty summary.
    """
    if max_sentences < 1:
        raise ValueError("max_sentences must be at least 1")
    sentences = split_sentences(text)
    if len(sentences) <= max_sentences:
        return " ".join(sentences)
    scores = sentence_scores(sentences)
    ranked = sorted(range(len(sentences)), key=lambda i: (-scores[i], i))[:max_sentences]
    return " ".join(sentences[i] for i in sorted(ranked))


class ExtractiveChatModel(Capabilities):
    """A ChatModel without a model: ``summarize`` works, ``structured`` returns None,
    ``chat`` raises :class:`ModelError` (it cannot write prose)."""

    name = "extractive"
    identity = "extractive"
    can_chat = False
    can_structure = False
    cacheable = False  # no model calls: nothing worth caching

    def __init__(self, context_window: int = 1_000_000, max_sentences: int = 3) -> None:
        self.context_window = context_window
        self.max_sentences = max_sentences

    def summarize(self, text: str, max_sentences: int | None = None) -> str:
        return extractive_summary(text, max_sentences or self.max_sentences)

    def chat(self, messages: list[Message], sampling: Sampling | None = None) -> str:
        raise ModelError(
            "the extractive backend has no language model and cannot write prose; "
            "use --llm local (the default) or --llm openai:MODEL"
        )

    def structured(self, messages: list[Message], schema: type, sampling: Sampling | None = None) -> None:
        return None

    def count_tokens(self, text: str) -> int:
        return estimate_tokens(text)
