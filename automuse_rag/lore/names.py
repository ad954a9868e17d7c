"""Names: cleaning surface names, titles, parsing ("Mr. Darcy" -> title mr, words
("Darcy",)) and the word lists the resolver and NER share. Pure, no spaCy."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from automuse_rag.lore.nicknames import is_given_name

KINDS = ("character", "place", "thing")

# title -> (class, gender); class groups spellings, gender is "m", "f" or None.
TITLES: dict[str, tuple[str, str | None]] = {
    "mr": ("mr", "m"),
    "mister": ("mr", "m"),
    "mrs": ("mrs", "f"),
    # the old title of any woman, married or not ("Mistress Snowe", "Mistress Everdene"):
    # neither a "Mrs." nor a "Miss", so it rules neither out
    "mistress": ("mistress", "f"),
    "miss": ("miss", "f"),
    "ms": ("miss", "f"),
    "lady": ("lady", "f"),
    "lord": ("lord", "m"),
    "sir": ("sir", "m"),
    "madam": ("madam", "f"),
    "madame": ("madam", "f"),
    "dame": ("lady", "f"),
    "master": ("master", "m"),
    "dr": ("dr", None),
    "doctor": ("dr", None),
    "captain": ("captain", None),
    "capt": ("captain", None),
    "colonel": ("colonel", None),
    "col": ("colonel", None),
    "general": ("general", None),
    "major": ("major", None),
    "lieutenant": ("lieutenant", None),
    "professor": ("professor", None),
    "prof": ("professor", None),
    "rev": ("rev", None),
    "reverend": ("rev", None),
    "father": ("father", "m"),
    "sister": ("sister", "f"),
    "brother": ("brother", "m"),
    "aunt": ("aunt", "f"),
    "uncle": ("uncle", "m"),
    "king": ("king", "m"),
    "queen": ("queen", "f"),
    "prince": ("prince", "m"),
    "princess": ("princess", "f"),
    "duke": ("duke", "m"),
    "duchess": ("duchess", "f"),
    "count": ("count", "m"),
    "countess": ("countess", "f"),
    "saint": ("saint", None),
    "st": ("saint", None),
    "monsieur": ("mr", "m"),
    "m": ("mr", "m"),
    "mademoiselle": ("miss", "f"),
    "mlle": ("miss", "f"),
    "mme": ("madam", "f"),
    # spoken and regional forms of the same titles, and ranks that head a surname
    "cap'n": ("captain", None),
    "cap’n": ("captain", None),
    "mester": ("mr", "m"),
    "maister": ("mr", "m"),
    "squire": ("squire", "m"),
    "measter": ("master", "m"),
    "farmer": ("farmer", "m"),
    "parson": ("rev", "m"),
    "widow": ("widow", "f"),
    "admiral": ("admiral", None),
    "marshal": ("marshal", None),
    "sergeant": ("sergeant", None),
}
# Military and naval ranks: men, in the books this reads (a gender where the title has none).
RANKS = {"captain", "colonel", "general", "major", "lieutenant", "admiral", "sergeant", "marshal"}
# Words of address that open a name in dialogue ("Dearest Clerval", "Poor Justine").
VOCATIVES = {"dear", "dearest", "poor", "my", "beloved", "sweet", "unhappy", "excellent"}
# Titles that address a person and exclude each other ("Mr. Bennet" is not "Mrs. Bennet").
CIVIL = {"mr", "mrs", "miss", "lady", "lord", "sir", "madam", "master"}
# Titles used with a first name as well as with a surname.
FIRSTNAME_TITLES = {
    "lady",
    "lord",
    "sir",
    "aunt",
    "uncle",
    "king",
    "queen",
    "prince",
    "princess",
    "saint",
    "brother",
    "sister",
    "father",
}
# Name words whose period is their own (not the sentence's).
ABBREVIATED = {"Jr.", "Sr.", "Esq.", "Bart.", "Bt."}
# The first-person pronoun (or the numeral one) NER runs into a name: never a name's word.
PRONOUN_I = {"I", "I."}
PARTICLES = {"de", "da", "di", "du", "van", "von", "der", "den", "la", "le", "of", "del", "d'"}
PLACE_HEADS = {"port", "mount", "cape", "fort", "lake", "st", "saint", "isle", "glen", "loch", "new"}
PLACE_TAILS = {
    "island",
    "isle",
    "point",
    "house",
    "hall",
    "park",
    "street",
    "lane",
    "road",
    "castle",
    "abbey",
    "bay",
    "harbour",
    "harbor",
    "cove",
    "hill",
    "hills",
    "lodge",
    "manor",
    "farm",
    "church",
    "chapel",
    "river",
    "lake",
    "wood",
    "woods",
    "forest",
    "mountain",
    "mountains",
    "valley",
    "square",
    "court",
    "place",
    "bridge",
    "cottage",
    "inn",
    "tower",
    "gardens",
    "garden",
    "town",
    "city",
    "village",
    "shire",
    "county",
    "sea",
    "ocean",
    "head",
    "rock",
    "rocks",
    "sound",
    "moor",
    "common",
    "green",
    "parsonage",
    "rectory",
    "vicarage",
    "hotel",
    "station",
    "palace",
    "college",
    "school",
    "mill",
    "quay",
    "pier",
    "jetty",
    "lighthouse",
    "cathedral",
    "priory",
    "grange",
    "heath",
    "field",
    "fields",
}
STOP_NAMES = {
    "chapter",
    "i",
    "god",
    "heaven",
    "heavens",
    "lord",
    "lady",
    "sir",
    "madam",
    "ma'am",
    "mamma",
    "papa",
    "mother",
    "father",
    "oh",
    "ah",
    "yes",
    "no",
    "well",
    "the",
    "a",
    "an",
    "and",
    "but",
    "christmas",
    "sunday",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "english",
    "french",
}
PERSON_LABELS = {"PERSON", "SPEAKER"}  # SPEAKER: "said the Queen" (lore/ner.py)
PLACE_LABELS = {"GPE", "LOC", "FAC"}
NER_LABELS = PERSON_LABELS | PLACE_LABELS | {"ORG"}

_POSSESSIVE = re.compile(r"(?:['’]s|['’])$")
_EDGE = re.compile(r"^[^\w]+|[^\w.]+$", re.UNICODE)


def norm_title(word: str) -> str | None:
    """The title key of ``word`` ("Mrs." -> "mrs"), or None if it is not a title."""
    key = word.rstrip(".").lower()
    return key if key in TITLES else None


# Titles a story gives one person, used alone as a name: Alice's King, Queen and
# Duchess. Ranks many people hold (Mr., Captain, Doctor) alone are never names.
ROLE_TITLES = {"King", "Queen", "Duke", "Duchess", "Prince", "Princess"}


@lru_cache(maxsize=65536)
def clean_name(raw: str) -> str | None:
    """Normalise a surface name; None if it cannot be a name."""
    if "\n" in raw.strip() or "\r" in raw:
        return None
    text = unicodedata.normalize("NFC", " ".join(raw.split()))
    text = _EDGE.sub("", text)
    text = _POSSESSIVE.sub("", text).strip()
    text = _EDGE.sub("", text)
    last = text.split()[-1] if text.split() else ""
    if last.endswith(".") and len(last) > 2 and "." not in last[:-1] and not norm_title(last) and last not in ABBREVIATED:
        text = text[:-1]  # "William Dane." ends a sentence; "Henry C." and "Tom Jr." keep theirs
    if text.lower().startswith("the "):
        text = text[4:]
    words = text.split()
    while len(words) > 1 and (words[0].lower() in VOCATIVES or words[0] in PRONOUN_I):
        # "Dear Clerval"; "I. Bessie", "I Lal Chowdar": the narrator's "I" (or a
        # chapter's numeral) run into the name after it
        words = words[1:]
        text = " ".join(words)
    if text in PRONOUN_I or "," in text:
        return None  # "Van Helsing, Art", "Bounderby, Loo": two names, one speaking to the other
    inner = [i for i, w in enumerate(words) if i > 0 and norm_title(w) not in (None, "m") and w[:1].isupper()]
    if inner:  # "Console Lady Catherine" -> "Lady Catherine"
        words = words[inner[0] :]
        text = " ".join(words)
    if "of" in words[2:] and is_given_name(words[0]) and not norm_title(words[0]):
        # "Josiah Bounderby of Coketown": a full name, then where he is from; a given
        # name alone keeps its place ("Henry of Navarre" is not the story's Henry)
        words = words[: words.index("of", 2)]
        text = " ".join(words)
    if not words or len(text) > 60 or len(words) > 6:
        return None
    if not words[0][:1].isupper():
        return None
    for w in words:
        if not (w[:1].isupper() or w.lower() in PARTICLES):
            return None
        if not any(ch.isalpha() for ch in w):
            return None
    if all(norm_title(w) for w in words) and not (len(words) == 1 and words[0] in ROLE_TITLES):
        return None  # honorific alone (but "the Queen" of a story is someone)
    return text


@dataclass(frozen=True)
class Parsed:
    title: str | None  # title key ("mr")
    words: tuple[str, ...]  # the name without its title

    @property
    def first(self) -> str:
        return self.words[0]

    @property
    def last(self) -> str:
        return self.words[-1]

    @property
    def is_full(self) -> bool:
        return len(self.words) >= 2


# A surname's particles, as written: one word with the word they stand before ("Henry
# van der Luyden": Henry and "van der Luyden"; "Mr. Van Helsing" is a title and a surname).
SURNAME_PARTICLES = PARTICLES - {"of", "d'"} | {"des", "della", "ten", "ter"}
CAPITAL_PARTICLES = {"Van", "Von", "De", "Du", "Der", "Den", "Ten", "Ter"}


def _with_particles(words: list[str]) -> tuple[str, ...]:
    out, i = [], 0
    while i < len(words):
        j = i
        while j < len(words) - 1 and (words[j] in SURNAME_PARTICLES or words[j] in CAPITAL_PARTICLES):
            j += 1
        out.append(" ".join(words[i : j + 1]))
        i = j + 1
    return tuple(out)


@lru_cache(maxsize=65536)
def parse_name(name: str) -> Parsed:
    words = name.split()
    title = None
    if len(words) > 1 and norm_title(words[0]):
        title = norm_title(words[0])
        words = words[1:]
    return Parsed(title, _with_particles(words))


def looks_like_place(name: str) -> bool:
    words = name.lower().split()
    return len(words) >= 2 and (words[-1] in PLACE_TAILS or words[0] in PLACE_HEADS)


def core_words(words: tuple[str, ...]) -> tuple[str, ...]:
    """Name words without middle initials ("George B. Wilson" -> George Wilson)."""
    if len(words) <= 2:
        return words
    return (words[0], *(w for w in words[1:-1] if not (len(w.rstrip(".")) == 1 and w[:1].isupper())), words[-1])
