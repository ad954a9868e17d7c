"""The gender a given name usually has, from the US census first-name lists shipped in
the ``names`` package (``dist.male.first`` / ``dist.female.first``: each name's share
of men or of women, read offline).

The pronouns around a name in a novel are noisy evidence of its gender: "John Thorpe"
walks beside Catherine, and "she" outnumbers "he" in his sentences. A given name that
one sex bears far more often than the other ("John", "Mary") is better evidence; a
name both bear ("Leslie", "Francis") or one the lists do not know gives none.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

#: How many times more common in one sex a name must be to give its gender.
RATIO = 10.0


@lru_cache(maxsize=1)
def _shares() -> dict[str, tuple[float, float]]:
    """name (lower case) -> (share among men, share among women), in percent."""
    out: dict[str, list[float]] = {}
    for i, sex in enumerate(("male", "female")):
        text = resources.files("names").joinpath(f"dist.{sex}.first").read_text(encoding="ascii")
        for line in text.splitlines():
            parts = line.split()
            if len(parts) >= 2:
                out.setdefault(parts[0].lower(), [0.0, 0.0])[i] = float(parts[1])
    return {k: (v[0], v[1]) for k, v in out.items()}


def in_census(word: str) -> bool:
    """``word`` is a given name of either census list ("Godfrey", "Leslie")."""
    return word.lower() in _shares()


@lru_cache(maxsize=65536)
def given_gender(word: str) -> str | None:
    """ "m" or "f" when ``word`` is a given name one sex bears at least :data:`RATIO`
    times as often as the other; else None."""
    men, women = _shares().get(word.lower(), (0.0, 0.0))
    if men > 0 and men >= RATIO * women:
        return "m"
    if women > 0 and women >= RATIO * men:
        return "f"
    return None
