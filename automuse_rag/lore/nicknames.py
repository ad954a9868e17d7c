"""Hypocorisms (Lizzy, Eliza -> Elizabeth; Jim -> James; Harry -> Henry; Bob -> Robert)
and the evidence that lets the resolver merge a nickname with a full name.

The equivalence comes from the ``nicknames`` package (a hand-curated English name and
nickname dataset, ``names.csv`` shipped inside the wheel, read offline).
:func:`nickname_keys` gives every word its canonical keys: two words that are
nicknames of each other (or of one common name) share a key, so a component builder
can union names on keys as it unions them on shared words.

The dataset is generous ("Daisy" is listed under Margaret, "Harold" under Harry), so
a shared key alone never merges two names. The resolver also needs evidence
(:func:`nickname_evidence`): a shared surname or title, a model alias, or the
nickname used in the same scenes (chunks) as the full name; and it never merges two
names recorded as different people in one sentence (:class:`Distinct`).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from automuse_rag.lore.given_names import in_census

# The share of the nickname's chunks that must also name the full name ("same scenes").
SAME_SCENES = 0.6


@lru_cache(maxsize=1)
def _canonicals() -> dict[str, frozenset[str]]:
    """nickname -> the canonical names it is a nickname of (all lower case)."""
    from nicknames import NickNamer

    out: dict[str, set[str]] = {}
    for canonical, nicks in NickNamer.default_lookup().items():
        for nick in nicks:
            out.setdefault(nick, set()).add(canonical)
    return {k: frozenset(v) for k, v in out.items()}


def is_given_name(word: str) -> bool:
    """``word`` is a given name or a nickname in the nicknames data ("Arthur", "Bill")."""
    w = word.lower()
    return w in _canonicals() or w in _given_names()


@lru_cache(maxsize=1)
def _given_names() -> frozenset[str]:
    return frozenset(n for names in _canonicals().values() for n in names)


@lru_cache(maxsize=65536)
def nickname_keys(word: str) -> frozenset[str]:
    """Canonical keys of a (first-name) word, lower case: the word itself and every
    name it is a nickname of. "Lizzy" -> {"lizzy", "elizabeth"}, "Elizabeth" ->
    {"elizabeth", "eliza"}, "Jim" -> {"jim", "james"}. Words that are nicknames of
    each other share a key; a word unknown to the dataset has only itself."""
    w = word.strip().lower()
    return frozenset({w, *_canonicals().get(w, ()), *diminutive_bases(w)}) if w else frozenset()


def diminutive_bases(word: str) -> set[str]:
    """What a pet form ending in -y, -ie or -ey may shorten: "toady" -> toad, "ratty" ->
    rat, "moly" -> mole, "georgie" -> george. Keys only: a merge still needs evidence."""
    w = word.lower()
    if len(w) < 4 or not w.isalpha():
        return set()
    stems = {w[:-2]} if w.endswith(("ie", "ey")) else {w[:-1]} if w.endswith("y") else set()
    out = set()
    for stem in stems:
        if len(stem) < 3:
            continue
        out |= {stem, stem + "e"}
        if len(stem) >= 4 and stem[-1] == stem[-2]:
            out.add(stem[:-1])
    return out


@lru_cache(maxsize=65536)
def pet_form(short: str, full: str) -> bool:
    """``short`` is a pet form of the given name ``full`` that the data does not list:
    a word it does not know as a name, whose stem (less -y, -ie or -ey) of three
    letters or more begins ``full``, two letters or more short of it ("Dunsey" ->
    "Dunstan", "Gilly" or "Gil" -> "Gilbert"). Never a name the data or the census
    knows ("Mary" is no pet form of "Martha", nor "Henry" of "Henrietta"). Like a
    nickname key, no evidence that two people are one: a merge still needs it."""
    s, f = short.lower(), full.lower()
    if not (s.isalpha() and f.isalpha()) or is_given_name(short) or in_census(short):
        return False
    stem = s[:-2] if s.endswith(("ie", "ey")) else s[:-1] if s.endswith("y") else s
    return len(stem) >= 3 and f.startswith(stem) and len(f) >= len(stem) + 2


@lru_cache(maxsize=65536)
def are_nicknames(a: str, b: str) -> bool:
    """True if two different words are nicknames of each other (or of one name)."""
    return a.lower() != b.lower() and bool(nickname_keys(a) & nickname_keys(b))


def same_scenes(nick_chunks: Iterable[int], full_chunks: Iterable[int], share: float = SAME_SCENES) -> bool:
    """The nickname is used in the same scenes as the full name: at least ``share`` of
    the chunks naming it also name the full name (Lizzy -> Elizabeth: nearly all;
    Kitty -> Lady Catherine: few)."""
    nick, full = set(nick_chunks), set(full_chunks)
    return bool(nick) and len(nick & full) >= share * len(nick)


def nickname_evidence(
    *,
    shared_surname: bool,
    shared_title: bool,
    model_alias: bool,
    nick_chunks: Iterable[int],
    full_chunks: Iterable[int],
) -> str:
    """The strongest evidence that a nickname and a full name are one person, or ""
    for none: "surname" > "model" > "title" > "scenes". The caller has already
    checked that the two are not recorded as different people."""
    if shared_surname:
        return "surname"
    if model_alias:
        return "model"
    if shared_title:
        return "title"
    if same_scenes(nick_chunks, full_chunks):
        return "scenes"
    return ""


EVIDENCE_RANK = {"surname": 4, "model": 3, "title": 2, "scenes": 1, "": 0}


#: Chunks in which a name and a longer name holding all its words ("Gilbert" and "Gilbert
#: Blythe") must act as different people before they count as two: one sentence read
#: wrong would part a person from the rest of his names for the whole book. A title
#: says more ("Doctor Manette" and "Lucie Manette": one sentence is enough).
SHARED_WORD_CHUNKS = 2


def _contained(a: str, b: str) -> bool:
    """One name is untitled and all its words are words of the other."""
    short, long_ = sorted((a, b), key=lambda n: (len(n.split()), n))
    words = short.split()
    return not any(w.endswith(".") for w in words) and set(words) <= set(long_.split()) and len(words) < len(long_.split())


class Distinct:
    """Name pairs recorded as different people in one sentence (per chunk facts,
    aggregated): ``Distinct([(chunk, a, b), ...])``. Symmetric. A name and a longer one
    holding all its words count as different people only when recorded so in
    :data:`SHARED_WORD_CHUNKS` chunks; other pairs, in one."""

    def __init__(self, pairs: Iterable[tuple[int, str, str]] = ()) -> None:
        chunks: dict[frozenset[str], set[int]] = {}
        for chunk, a, b in pairs:
            if a != b:
                chunks.setdefault(frozenset((a, b)), set()).add(chunk)
        self._pairs: set[frozenset[str]] = {
            pair for pair, seen in chunks.items() if len(seen) >= (SHARED_WORD_CHUNKS if _contained(min(pair), max(pair)) else 1)
        }

    def __call__(self, a: str, b: str) -> bool:
        return frozenset((a, b)) in self._pairs

    def any(self, names_a: Iterable[str], names_b: Iterable[str]) -> bool:
        """True if some name of one group acts as a different person from some name of the other."""
        bs = list(names_b)
        return any(frozenset((a, b)) in self._pairs for a in names_a for b in bs if a != b)

    def __len__(self) -> int:
        return len(self._pairs)
