"""Which names alias resolution keeps, what kind each is, and the gender a story's
pronouns give a first name (see lore/resolve.py for how they are driven)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from automuse_rag.lore.names import (
    KINDS,
    PERSON_LABELS,
    PLACE_LABELS,
    STOP_NAMES,
    TITLES,
    clean_name,
    looks_like_place,
    parse_name,
)
from automuse_rag.lore.stats import NameStat


def keep_name(st: NameStat, surnames: set[str]) -> bool:
    if st.name.lower() in STOP_NAMES or clean_name(st.name) != st.name:
        return False
    p = parse_name(st.name)
    if len(p.words) == 1 and p.title is None and st.lower >= st.count:
        return False  # a capitalised common word
    if st.count >= 2 or st.model:
        return True
    # A name seen once so far: kept when it is a full name NER calls a person (a
    # character being introduced: "Arthur Blackwood, the syndicate's man"), or one of a
    # known family; a single word or an untagged phrase waits for a second mention.
    return p.is_full and (p.last in surnames or person_votes(st) > 0)


def kind_of(st: NameStat, person_words: set[str], strong: frozenset[str] = frozenset()) -> str:
    """character / place / thing, or "" to drop. ``person_words``: words of names
    tagged PERSON; ``strong``: words of titled or full character names."""
    if looks_like_place(st.name):
        return "place"
    p = parse_name(st.name)
    if p.title is not None or (not p.is_full and st.name in strong) or st.votes.get("SPEAKER", 0) >= 2:
        return "character"  # titled, a known person's word, or one who speaks ("said the Duchess")
    if st.at * 4 >= st.count and st.at >= 2 and st.name not in strong:
        return "place"
    if st.model_kind in KINDS and st.votes.total() == 0:
        return st.model_kind
    person = sum(v for k, v in st.votes.items() if k in PERSON_LABELS)
    place = sum(v for k, v in st.votes.items() if k in PLACE_LABELS)
    if person >= place and person > 0:
        return "character"
    if p.is_full and (p.last in person_words or p.first in person_words):
        return "character"
    if place > 0:
        return "place"
    if st.model_kind in KINDS:
        return st.model_kind
    return "thing" if st.nchunks >= 3 else ""


def gender_by_first(stats: Mapping[str, NameStat]) -> dict[str, str | None]:
    he: Counter[str] = Counter()
    she: Counter[str] = Counter()
    for st in stats.values():
        p = parse_name(st.name)
        if p.title and not p.is_full:
            continue  # "Mrs. Thomas": the word after a title is mostly a surname, no given name's gender
        he[p.first] += st.he
        she[p.first] += st.she
        if p.title and TITLES[p.title][1] and p.is_full:
            (he if TITLES[p.title][1] == "m" else she)[p.first] += 5
    out: dict[str, str | None] = {}
    for first in set(he) | set(she):
        h, s = he[first], she[first]
        out[first] = "m" if h >= 2 and h >= 2 * s else "f" if s >= 2 and s >= 2 * h else None
    return out


def person_votes(st: NameStat) -> int:
    return sum(v for k, v in st.votes.items() if k in PERSON_LABELS)
