"""A cluster of names being resolved (:class:`Draft`) and the pure tests the rules of
lore/rules.py apply to names and clusters: initials, longer full names, titles."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from automuse_rag.lore.names import CIVIL, RANKS, TITLES, core_words


@dataclass
class Draft:
    members: list[str]
    kind: str
    titles: set[str] = field(default_factory=set)  # title classes
    firsts: set[str] = field(default_factory=set)
    surnames: set[str] = field(default_factory=set)
    gender: str | None = None
    weight: int = 0
    has_full: bool = False
    married: set[str] = field(default_factory=set)  # her married surnames (see Resolver.maiden_or_married)


def initial(word: str) -> bool:
    return len(word) == 2 and word[0].isupper() and word[1] == "."


def is_abbreviation(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """Two full names that differ only where one has an initial ("R. Walton",
    "Robert Walton"): same surname, same number of core words, and each given word
    equal or an initial of the other."""
    a, b = core_words(a), core_words(b)
    if len(a) != len(b) or a[-1] != b[-1] or a == b:
        return False
    return all(x == y or (initial(x) and y.startswith(x[0])) or (initial(y) and x.startswith(y[0])) for x, y in zip(a, b))


def is_extension(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """One of two full names has the other's words in order and more, sharing its first
    or its last word ("Long John Silver" / "John Silver"; "Alan Breck Stewart" / "Alan Breck")."""
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    if len(short) < 2 or len(short) == len(long_) or (short[0] != long_[0] and short[-1] != long_[-1]):
        return False
    rest = iter(long_)
    return all(w in rest for w in short)


def title_ok(title: str | None, cl: Draft, surname: str | None = None) -> bool:
    """A title fits a cluster: the same civil title class (a "Mrs." is not the "Miss"
    of her family, unless ``surname`` is her married name) and no other gender."""
    if title is None:
        return True
    cls_, gender = TITLES[title]
    gender = gender or ("m" if cls_ in RANKS else None)  # "Captain Lennox" is not Mary Lennox
    married = cls_ == "mrs" and surname in cl.married
    # "Master Godfrey" grows into "Mr. Godfrey Cass": a boy's title is a man's
    same = {GROWN.get(cls_, cls_)}
    if cls_ in CIVIL and not married and any(t in CIVIL and GROWN.get(t, t) not in same for t in cl.titles):
        return False
    return not (gender and cl.gender and gender != cl.gender)


#: Plain civil titles, and the styles that replace them in address: a man the story
#: calls "Captain Tilney", "Doctor Craven", "Sir William Lucas" or "Squire Cass" is
#: not its "Mr. Tilney"/"Mr. Craven"/"Mr. Lucas"/"Mr. Cass".
PLAIN = {"mr", "mrs", "miss"}
STYLES = RANKS | {
    "dr",
    "professor",
    "rev",
    "sir",
    "lord",
    "lady",
    "squire",
    "duke",
    "duchess",
    "count",
    "countess",
    "king",
    "queen",
    "prince",
    "princess",
}


def unstyled(cands: Sequence[Draft]) -> list[Draft]:
    """Of several family members a plain "Mr./Mrs./Miss Surname" could name, the one
    the story never gives a style of rank or office; none when that is not exactly one."""
    plain = [c for c in cands if not c.titles & STYLES]
    return plain if len(plain) == 1 else list(cands)


#: A title that a person outgrows, and the one it becomes.
GROWN = {"master": "mr"}
