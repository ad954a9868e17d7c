"""Token-budget helpers (pure): cut a text to a token count from its start or its
end, and fit a section's items into a token allowance, degrading before dropping.

Every function takes ``count_tokens`` (the target model's tokenizer) and never
assumes token counts add up across joins; callers verify the final text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

CountTokens = Callable[[str], int]
ELLIPSIS = "…"

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


def _snap_forward(text: str, start: int, slack: int = 40) -> int:
    """Move ``start`` to the next word start if one is near (keeps words whole)."""
    if start <= 0 or text[start - 1].isspace():
        return start
    for pos in range(start, min(len(text) - 1, start + slack)):
        if text[pos].isspace() and not text[pos + 1].isspace():
            return pos + 1
    return start


def _snap_back(text: str, end: int, slack: int = 40) -> int:
    """Move ``end`` back to the previous word end if one is near."""
    if end >= len(text) or text[end].isspace():
        return end
    for pos in range(end, max(1, end - slack), -1):
        if text[pos - 1].isspace() and not text[pos - 2].isspace():
            return pos - 1
    return end


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


def cut_start(text: str, max_tokens: int, count: CountTokens) -> str:
    """The longest tail of ``text`` (marked with a leading "…") within ``max_tokens``.

    The end of ``text`` is always kept: the result is ``text`` itself when it fits,
    else "…" + a non-empty suffix, unless not even one character fits ('' then)."""
    total = count(text)
    if total <= max_tokens:
        return text
    tail = len(text) * max(0, max_tokens) // max(1, total)  # characters, at the text's mean density
    guess = len(text) - tail
    lo = _first_true(1, len(text), lambda mid: count(ELLIPSIS + text[mid:]) <= max_tokens, guess, tail // 10 + 4)
    start = _snap_forward(text, lo)
    while start < len(text) and count(ELLIPSIS + text[start:].lstrip()) > max_tokens:
        start += 1  # tokenizers are not monotonic; step until it fits
    rest = text[start:].lstrip()
    return ELLIPSIS + rest if rest else ""


def cut_end(text: str, max_tokens: int, count: CountTokens) -> str:
    """The longest head of ``text`` (marked with a trailing "…") within ``max_tokens``."""
    total = count(text)
    if total <= max_tokens:
        return text
    guess = len(text) * max(0, max_tokens) // max(1, total)
    # the first end whose head does not fit, minus one: the largest end that does
    over = _first_true(0, len(text), lambda mid: count(text[:mid] + ELLIPSIS) > max_tokens, guess + 1, guess // 10 + 4)
    end = _snap_back(text, min(max(0, over - 1), len(text) - 1))
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
