"""Token-budget helpers (pure): cut a text to a token count from its start or its
end, and fit a section's items into a token allowance, degrading before dropping.

Every function takes ``count_tokens`` (the target model's tokenizer) and never
assumes token counts add up across joins; callers verify the final text.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

CountTokens = Callable[[str], int]
ELLIPSIS = "…"
_WORD_START = re.compile(r"(?<=\s)\S")
_WORD_END = re.compile(r"\S(?=\s)")

#: The last chunk is never cut below its final MIN_LAST_CHUNK_TOKENS tokens.
MIN_LAST_CHUNK_TOKENS = 64
#: The outline is never cut below the first MIN_OUTLINE_TOKENS tokens of the current part.
MIN_OUTLINE_TOKENS = 48


class TokenCache:
    """Memoises a token counter for the duration of one assembly."""

    def __init__(self, count_tokens: CountTokens) -> None:
        self._count = count_tokens
        self._memo: dict[str, int] = {}

    def __call__(self, text: str) -> int:
        if text not in self._memo:
            self._memo[text] = self._count(text) if text else 0
        return self._memo[text]


def _first_true(lo: int, hi: int, pred: Callable[[int], bool], guess: int, step: int) -> int:
    """The smallest ``x`` in ``[lo, hi]`` with ``pred(x)``, for a ``pred`` that is False
    then True and is taken as True at ``hi`` (never called there). Starts at ``guess``
    and gallops by ``step`` (doubling) to bracket the answer before bisecting: a good
    guess costs a few calls of ``pred`` on short texts instead of a bisection of the
    whole text."""
    step = max(1, step)
    x = min(max(guess, lo), hi)
    if x < hi and pred(x):
        hi = x
        while hi - step > lo:
            if not pred(hi - step):
                lo = hi - step + 1
                break
            hi -= step
            step *= 2
    elif x < hi:
        lo = x + 1
        while lo + step < hi:
            if pred(lo + step):
                hi = lo + step
                break
            lo += step + 1
            step *= 2
    while lo < hi:
        mid = (lo + hi) // 2
        if pred(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


def _word_starts(text: str) -> list[int]:
    """Offsets of ``text``'s words after its first (a non-space after a space)."""
    return [m.start() for m in _WORD_START.finditer(text)]


def _word_ends(text: str) -> list[int]:
    """Offsets just past each of ``text``'s words but its last (a non-space before a space)."""
    return [m.end() for m in _WORD_END.finditer(text)]


def cut_start(text: str, max_tokens: int, count: CountTokens) -> str:
    """The longest tail of ``text`` (marked with a leading "…") within ``max_tokens``,
    starting at a word: the earliest word whose tail fits, so the word before it does
    not. Only when no word's tail fits (one long last word) does it start inside a word.

    The end of ``text`` is always kept: the result is ``text`` itself when it fits,
    else "…" + a non-empty suffix, unless not even one character fits ('' then)."""
    total = count(text)
    if total <= max_tokens:
        return text
    starts = _word_starts(text)
    if starts:
        # the earliest word whose tail fits, searched among words (a few counts of short
        # tails, from the text's mean density), not characters
        tail = len(text) * max(0, max_tokens) // max(1, total)
        guess = bisect.bisect_left(starts, len(text) - tail)
        i = _first_true(0, len(starts), lambda k: count(ELLIPSIS + text[starts[k] :]) <= max_tokens, guess, 2)
        while i < len(starts) and count(ELLIPSIS + text[starts[i] :]) > max_tokens:
            i += 1  # tokenizers are not monotonic; step until it fits
        if i < len(starts):
            return ELLIPSIS + text[starts[i] :]
    # no word's tail fits: the longest tail of the last word that does
    word = starts[-1] if starts else len(text) - len(text.lstrip())
    lo = _first_true(word, len(text), lambda mid: count(ELLIPSIS + text[mid:]) <= max_tokens, len(text) - 1, 4)
    while lo < len(text) and count(ELLIPSIS + text[lo:].lstrip()) > max_tokens:
        lo += 1
    rest = text[lo:].lstrip()
    return ELLIPSIS + rest if rest else ""


def cut_end(text: str, max_tokens: int, count: CountTokens) -> str:
    """The longest head of ``text`` (marked with a trailing "…") within ``max_tokens``,
    ending at a word: the latest word whose head fits. Only when no word's head fits
    (one long first word) does it end inside a word."""
    total = count(text)
    if total <= max_tokens:
        return text
    ends = _word_ends(text)
    if ends:
        guess = bisect.bisect_right(ends, len(text) * max(0, max_tokens) // max(1, total))
        # the first word end whose head does not fit, minus one: the latest that does
        over = _first_true(0, len(ends), lambda k: count(text[: ends[k]] + ELLIPSIS) > max_tokens, guess, 2)
        i = over - 1
        while i >= 0 and count(text[: ends[i]] + ELLIPSIS) > max_tokens:
            i -= 1
        if i >= 0:
            return text[: ends[i]] + ELLIPSIS
    first = ends[0] if ends else len(text.rstrip())
    over = _first_true(0, first, lambda mid: count(text[:mid] + ELLIPSIS) > max_tokens, 1, 4)
    end = max(0, over - 1)
    while end > 0 and count(text[:end].rstrip() + ELLIPSIS) > max_tokens:
        end -= 1
    head = text[:end].rstrip()
    return head + ELLIPSIS if head else ""


@dataclass(frozen=True)
class Item:
    """A section item with the token cost of each of its forms (short <= full).

    ``short`` gives the short form's cost when first asked (then remembered by the
    caller's counter): most items go in full, and counting a form costs a pass of the
    tokenizer (about a third of a prompt's assembly time went to short forms never used)."""

    id: str
    score: float
    full_cost: int
    short: Callable[[], int]

    @property
    def short_cost(self) -> int:
        return min(self.full_cost, self.short())

    @property
    def can_shorten(self) -> bool:
        return self.short_cost < self.full_cost


def fit_items(items: Sequence[Item], header_cost: int, allowance: int) -> tuple[dict[str, str | None], int]:
    """Choose a form for each item so the section fits ``allowance`` tokens.

    Degrade before dropping: first every item in full; then shorten items, lowest
    score first; only when every item is short are items dropped, lowest score
    first. Returns ({id: "full" | "short" | None}, tokens used incl. the header,
    0 if nothing is included)."""
    order = sorted(items, key=lambda it: (-it.score, it.id))
    states: dict[str, str | None] = {it.id: "full" for it in order}
    total = header_cost + sum(it.full_cost for it in order)
    for it in reversed(order):
        if total <= allowance:
            return states, total
        if it.can_shorten:
            states[it.id] = "short"
            total -= it.full_cost - it.short_cost
    for it in reversed(order):
        if total <= allowance:
            break
        states[it.id] = None
        total -= it.short_cost if it.can_shorten else it.full_cost
    if all(state is None for state in states.values()):
        total = 0
    return states, total


def memo_counter(count_tokens: CountTokens, size: int = 65536) -> CountTokens:
    """``count_tokens`` remembered across prompts (the same cards, memories and outline
    parts come back at many positions): for loops that build many prompts."""
    from functools import lru_cache

    return lru_cache(maxsize=size)(count_tokens)
