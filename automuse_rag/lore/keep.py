"""Which names alias resolution keeps, what kind each is, and the gender a story's
pronouns give a first name (see lore/resolve.py for how they are driven)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from automuse_rag.lore.given_names import given_gender, in_census
from automuse_rag.lore.names import (
    KINDS,
    PERSON_LABELS,
    PLACE_LABELS,
    STOP_NAMES,
    TITLES,
    clean_name,
    looks_like_place,
    norm_title,
    parse_name,
)
from automuse_rag.lore.nicknames import is_given_name
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


def glued_names(stats: Mapping[str, NameStat]) -> set[str]:
    """Names that are another name of the story with a word glued on, where NER runs
    a capitalised word into a name: words before the name in uses that all open a
    sentence or stand in a heading ("Which Louisa hastily confirmed", "This Thaddeus
    Sholto was with his brother"), or after it in uses all in headings (the chapter
    title "Sherlock Holmes Gives a Demonstration"); the name inside is used at least
    twice as often, and each extra word is no name's word: in no other name of the
    story, no title, no initial, no given name of the nicknames data or the census
    lists, and no word after a given name. "Long John Silver" keeps
    "Long" (used mid-sentence, and "Long John" is a name too); "Henry Dunmore", who
    opens sentences, keeps "Dunmore" (a sentence start glues nothing after a name)."""
    out: set[str] = set()
    for n, st in stats.items():
        words = n.split()
        if len(words) < 2 or max(st.edge, st.heading) < st.count:
            continue
        after = st.heading >= st.count
        spans = ((a, b) for a in range(len(words)) for b in range(len(words), a, -1) if (a, b) != (0, len(words)))
        for i, j in ((a, b) for a, b in spans if b == len(words) or after):
            inner = stats.get(" ".join(words[i:j]))
            extra = words[:i] + words[j:]
            if inner is None or inner.count < 2 * st.count or any(_name_word(w) for w in extra):
                continue
            if j < len(words) and _name_word(words[j - 1]):
                continue  # "By Jane Austen" on a title page: a given name's surname follows it
            if not any(w in other.split() for w in extra for other in stats if other != n):
                out.add(n)
                break
    return out


def _name_word(word: str) -> bool:
    """A title, an initial ("R."), or a given name of the nicknames data or the census lists."""
    initial = len(word) == 2 and word[0].isupper() and word[1] == "."
    return bool(norm_title(word)) or initial or is_given_name(word) or in_census(word)


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
    """first word -> "m"/"f"/None: the pronouns around names with that first word, and
    a title's gender on a full name ("Mrs." aside: "Mrs. Godfrey Cass" is his wife,
    named by his given name). The first word of a full name that one sex bears
    far more often (lore/given_names.py: "John", "Mary") has that gender whatever its
    noisy pronouns say; a bare word ("Darcy", also a girl's name) only when they are
    inconclusive."""
    he: Counter[str] = Counter()
    she: Counter[str] = Counter()
    given: set[str] = set()
    for st in stats.values():
        p = parse_name(st.name)
        if p.title and not p.is_full:
            continue  # "Mrs. Thomas": the word after a title is mostly a surname, no given name's gender
        if p.title and TITLES[p.title][0] == "mrs":
            continue  # "Mrs. Newland Archer": a wife may go by her husband's given name, so it is no one's sex
        if p.is_full:
            given.add(p.first)
        he[p.first] += st.he
        she[p.first] += st.she
        if p.title and TITLES[p.title][1] and p.is_full:
            (he if TITLES[p.title][1] == "m" else she)[p.first] += 5
    out: dict[str, str | None] = {}
    for first in set(he) | set(she):
        h, s = he[first], she[first]
        pronouns = "m" if h >= 2 and h >= 2 * s else "f" if s >= 2 and s >= 2 * h else None
        usual = given_gender(first)
        out[first] = usual if usual and (first in given or pronouns is None) else pronouns
    return out


def person_votes(st: NameStat) -> int:
    return sum(v for k, v in st.votes.items() if k in PERSON_LABELS)
