"""Per-chunk facts from spaCy's dependency parser: the describing sentence of each
name (lore/describe.py), relations between characters and "different people"
pairs (lore/relations.py).

The NER pipeline (lore/ner.py) runs without the parser for speed; this module
parses only the sentences that need it: those naming someone (or something) outside
quotation marks or naming two characters, and those opening with "He was ..."/"She
had ..." right after a sentence naming a character. A name only inside quotes gets a
plain "mention" without a parse. The cost on Pride and Prejudice is in
docs/benchmarks.md (bench:lore).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping, Set
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from automuse_rag.lore.coref import kin_candidates, kin_referent, quoted_offsets, scene
from automuse_rag.lore.describe import is_prose, line_at, occurrence_kind, score
from automuse_rag.lore.family import FAMILY_ANY, SEX
from automuse_rag.lore.given_names import given_gender
from automuse_rag.lore.names import (
    NER_LABELS,
    PERSON_LABELS,
    RANKS,
    STOP_NAMES,
    TITLES,
    Parsed,
    clean_name,
    parse_name,
)
from automuse_rag.lore.ner import _span_with_title, parse_sentences
from automuse_rag.lore.relation_words import KIN_TITLES, PLURAL_ROLES, ROLES, SPEECH
from automuse_rag.lore.relations import (
    Occ,
    sentence_facts,
)
from automuse_rag.lore.types import LoreMention

if TYPE_CHECKING:
    from spacy.tokens import Doc, Span, Token


class _Antecedent(Protocol):
    """``antecedent(pos, gender[, exclude])``: the character an earlier pronoun refers to."""

    def __call__(self, pos: int, gender: str, exclude: Set[str] = ...) -> str | None: ...


PRONOUN_COPULA = re.compile(r"^\W*(He|She)\s+(?:was|is|had|has|became|seemed|looked)\b")
LOOKBACK = 3  # sentences after one naming a character that may open with its pronoun
CUT_AT_NAME = {"appos", "copula", "backstory"}  # a long sentence shown from the name on
ANTECEDENT_WINDOW = 400  # characters back to look for a pronoun's antecedent


@dataclass
class ChunkFacts:
    relations: list[dict[str, str]] = field(default_factory=list)
    distinct: list[tuple[str, str]] = field(default_factory=list)
    facts: list[dict[str, Any]] = field(default_factory=list)  # lore/facts.py, filled by analyze_chunk


@dataclass
class _Hit:
    name: str
    character: bool
    start: int  # chunk character offsets
    end: int
    sent: int  # sentence number in the NER doc


def name_hits(
    doc: Doc, by_name: Mapping[str, LoreMention], lowercase_titles: bool = True, person_votes: bool = True
) -> list[_Hit]:
    """Where the chunk's names occur: NER's spans, and the other capitalised uses of a
    name NER tagged somewhere in the chunk ("his brother Dunstan", tagged only once).
    A name is a character's when a title or a PERSON vote anywhere in the chunk says
    so, whatever the one span's label ("Louisa, eldest daughter of ..." tagged GPE);
    with ``person_votes=False`` only by its own label, its title, or the chunk's vote for a
    given name one sex bears (lore/given_names.py: "Colin", not "Cluny").
    ``by_name``: the chunk's mentions (lore/ner.py ``ner_mentions``). A title word before
    a span joins it as in the mentions, where "his sister Emily" is no name (only another
    use of Emily counts); with ``lowercase_titles=False`` only a capitalised title joins,
    so that span names Emily and "Sister Agnes" names Sister Agnes. The fact reader and
    continuity checker (lore/chunk_view.py) take both False: the chunk's vote made
    Kidnapped's GPE-tagged "Cluny" the "he" who "soon died" in France years after the
    story, a true death its later chunks then broke 10 times (bench:continuity dev)."""
    sent_of = {s.start: i for i, s in enumerate(doc.sents)}
    people = {n for n, m in by_name.items() if parse_name(n).title or any(k in PERSON_LABELS for k in m.labels)}
    person_words = {w for n in people for w in parse_name(n).words}
    out: list[_Hit] = []
    taken: set[int] = set()
    for ent in doc.ents:
        if ent.label_ not in NER_LABELS:
            continue
        start, end = _span_with_title(doc, ent, lowercase_titles)
        name = clean_name(doc[start:end].text)
        if name is None or name.lower() in STOP_NAMES:
            continue
        span = doc[start:end]
        if person_votes:
            character = ent.label_ in PERSON_LABELS or name in people or set(parse_name(name).words) <= person_words
        else:
            p = parse_name(name)
            character = ent.label_ in PERSON_LABELS or p.title is not None or (name in people and _given_sex(p) is not None)
        out.append(_Hit(name, character, span.start_char, span.end_char, sent_of.get(ent.sent.start, -1)))
        taken.update(range(start, end))
    # a full name's given name alone ("her sister Priscilla"), when one person of the
    # chunk has it: that person
    firsts: dict[str, list[str]] = {}
    for n in people:
        p = parse_name(n)
        if p.is_full and p.first[:1].isupper() and p.first not in by_name:
            firsts.setdefault(p.first, []).append(n)
    forms = [(n, n) for n in people] + [(first, ns[0]) for first, ns in firsts.items() if len(ns) == 1]
    for form, name in sorted(forms, key=lambda f: len(f[0]), reverse=True):
        words = form.split()
        for i in range(len(doc) - len(words) + 1):
            if doc[i].text != words[0] or any(doc[i + k].text != w or i + k in taken for k, w in enumerate(words)):
                continue
            after = doc[i + len(words)] if i + len(words) < len(doc) else None
            before = doc[i - 1] if i > 0 else None
            if (after is not None and after.is_title and after.is_alpha) or (
                before is not None and before.is_alpha and before.is_title and not before.is_sent_start
            ):
                continue  # part of a longer capitalised name ("Mr. Dunstan", "Dunstan Cass")
            span = doc[i : i + len(words)]
            out.append(_Hit(name, True, span.start_char, span.end_char, sent_of.get(span.sent.start, -1)))
            taken.update(range(i, i + len(words)))
    return sorted(out, key=lambda h: h.start)


def mention_genders(mentions: Collection[LoreMention]) -> dict[str, str | None]:
    """name -> "m"/"f"/None: its title's, else its given name's (lore/given_names.py),
    else the pronouns around names with the same first word in this chunk."""
    he: dict[str, int] = {}
    she: dict[str, int] = {}
    for m in mentions:
        first = parse_name(m.name).first
        he[first] = he.get(first, 0) + m.he
        she[first] = she.get(first, 0) + m.she
    out: dict[str, str | None] = {}
    for m in mentions:
        p = parse_name(m.name)
        g = TITLES[p.title][1] if p.title else None
        g = g or ("m" if p.title and TITLES[p.title][0] in RANKS else None)
        g = g or _given_sex(p)
        if g is None:
            h, s = he.get(p.first, 0), she.get(p.first, 0)
            g = "m" if h >= 2 and h >= 2 * s else "f" if s >= 2 and s >= 2 * h else None
        out[m.name] = g
    return out


def chunk_facts(doc: Doc, mentions: list[LoreMention]) -> ChunkFacts:
    """Parse the sentences of the NER ``doc`` that need it; set each mention's
    ``description``/``desc_kind`` to its best describing sentence in the chunk (or
    "" when every sentence naming it is about someone else); return the chunk's
    relations and different-people pairs."""
    by_name = {m.name: m for m in mentions}
    hits = name_hits(doc, by_name)
    sents = list(doc.sents)
    genders = mention_genders(mentions)
    best: dict[str, tuple[int, int, str, str]] = {}  # name -> (-score, offset, kind, text)

    def offer(name: str, kind: str, pos: int, text: str) -> None:
        if not is_prose(text):
            return
        cand = (-score(kind), pos, kind, text)
        if name not in best or cand < best[name]:
            best[name] = cand

    wanted: dict[int, str] = {}
    for i, group in _by_sentence(hits).items():
        sent = sents[i]
        quoted = quoted_offsets(sent.text)
        if len({h.name for h in group if h.character}) >= 2:
            wanted[i] = "names"
            continue
        if all(_quoted_at(quoted, h.start - sent.start_char) for h in group):
            # Names only inside quotes, one character: dialogue gives no description
            # above a mention and no relation worth a parse, unless the speaker's kin.
            for h in group:
                offer(h.name, "mention", h.start, line_at(sent.text, 0))
            if _kin_talk(sent, group):
                wanted[i] = "kin"
            continue
        wanted[i] = "names"
    char_sents = {h.sent for h in hits if h.character}
    for i, s in enumerate(sents):
        if i not in wanted and _after(i, char_sents) and PRONOUN_COPULA.match(s.text):
            wanted[i] = "pronoun"
    order = sorted(wanted)
    parsed = parse_sentences([sents[i].text for i in order])
    facts = ChunkFacts()
    distinct: set[tuple[str, str]] = set()
    char_hits = sorted((h for h in hits if h.character), key=lambda h: h.start)

    def antecedent(pos: int, gender: str, exclude: Set[str] = frozenset()) -> str | None:
        """The nearest earlier character of ``gender``; one of unknown gender only
        if it is the nearest character of all."""
        nearest = True
        for h in reversed(char_hits):
            if h.start >= pos or h.name in exclude:
                continue
            if pos - h.start > ANTECEDENT_WINDOW:
                return None
            g = genders.get(h.name)
            if g == gender or (g is None and nearest):
                return h.name
            nearest = False
        return None

    dialogue = scene(doc, char_hits, antecedent)
    occs_of: dict[int, list[Occ]] = {}
    quotes_of: dict[int, list[bool]] = {}
    for i, pdoc in zip(order, parsed):
        if wanted[i] in ("names", "kin"):
            quotes_of[i] = quoted_offsets(sents[i].text)
            occs_of[i] = _occurrences(pdoc, [h for h in hits if h.sent == i], sents[i].start_char, quotes_of[i])
    speakers = {i: sp for i, occs in occs_of.items() if (sp := _speaker(occs))}

    for i, pdoc in zip(order, parsed):
        sent = sents[i]
        base = sent.start_char
        if wanted[i] == "pronoun":
            _pronoun_copula(pdoc, base, antecedent, offer, sent.text)
            continue
        if wanted[i] == "names" and _after(i, char_sents) and PRONOUN_COPULA.match(sent.text):
            _pronoun_copula(pdoc, base, antecedent, offer, sent.text)
        occs, quoted = occs_of[i], quotes_of[i]
        names_at = {t for o in occs for t in o.tokens}

        def in_name(tok: Token, _at: set[int] = names_at) -> bool:
            return tok.i in _at

        subjects = {o.name for o in occs if o.root.dep_ in ("nsubj", "nsubjpass") and o.root.head.dep_ == "ROOT"}
        for o in occs if wanted[i] == "names" else ():  # a kin sentence's quoted names have their "mention"
            kind = occurrence_kind(o.root, in_name, bool(subjects - {o.name}), o.quoted)
            if kind is not None:
                start = min(pdoc[t].idx for t in o.tokens)
                offer(o.name, kind, base + start, line_at(sent.text, start if kind in CUT_AT_NAME else 0))
        speaker = speakers.get(i) or (speakers.get(i + 1) if any(quoted) else None)

        def pronoun(
            tok: Token,
            exclude: Set[str],
            _base: int = base,
            _quoted: list[bool] = quoted,
            _speaker: str | None = speaker,
            _kin_only: bool = wanted[i] == "kin",
        ) -> str | None:
            if tok.lower_ == "my":  # in dialogue: the speaker ("'My cousin Jane,' said Elizabeth")
                at = _base + tok.idx
                if not ((tok.idx < len(_quoted) and _quoted[tok.idx]) or dialogue.inside(at)):
                    return None
                who = _speaker or dialogue.speaker(at)  # else the paragraph's one speaker
                return who if who not in exclude else None
            if _kin_only or (tok.lower_ in ("he", "she") and tok.idx < len(_quoted) and _quoted[tok.idx]):
                return None  # a subject pronoun in dialogue: too often someone off stage
            gender = "m" if tok.lower_ in ("his", "he") else "f" if tok.lower_ in ("her", "she") else None
            return antecedent(_base + tok.idx, gender, exclude) if gender else None

        def kin(tok: Token, role: str, owner: str, _i: int = i) -> str | tuple[str, ...] | None:
            return (
                kin_referent(role, owner, _i, char_hits, genders)
                or kin_candidates(role, owner, _i, char_hits, genders)
                or ((FAMILY_ANY,) if role in SEX else None)
            )

        rels, pairs = sentence_facts(pdoc, occs, pronoun, _title_gender, kin)
        for r in rels:
            if not any(_same(r, q) for q in facts.relations):
                facts.relations.append({**r, "evidence": line_at(sent.text, 0)})
        distinct.update(pairs)
    facts.relations.extend(couples(by_name, facts.relations))
    for name, m in by_name.items():
        if name in best:
            _, _, kind, text = best[name]
            m.description, m.desc_kind = text, kind
        elif m.source == "ner":
            m.description, m.desc_kind = "", ""
    facts.distinct = sorted(distinct)
    return facts


def _kin_talk(sent: Span, group: list[_Hit]) -> bool:
    """A quoted name that may be the speaker's kin: "my" and a kin or role word in the
    sentence ("My father was Major Sholto"), or a name titled as kin ("Aunt Josephine")."""
    words = {t.lower_ for t in sent}
    if "my" in words and words & (ROLES | PLURAL_ROLES.keys()):
        return True
    return any(h.name.split()[0].lower() in KIN_TITLES for h in group)


def _by_sentence(hits: list[_Hit]) -> dict[int, list[_Hit]]:
    out: dict[int, list[_Hit]] = {}
    for h in hits:
        out.setdefault(h.sent, []).append(h)
    return out


def _quoted_at(quoted: list[bool], offset: int) -> bool:
    return quoted[offset] if 0 <= offset < len(quoted) else False


def _occurrences(pdoc: Doc, hits: list[_Hit], base: int, quoted: list[bool]) -> list[Occ]:
    """The sentence's names located in its parse (by character offsets)."""
    occs: list[Occ] = []
    for h in hits:
        span = pdoc.char_span(h.start - base, h.end - base, alignment_mode="expand")
        if span is None or not len(span):
            continue
        q = quoted[h.start - base] if h.start - base < len(quoted) else False
        occs.append(Occ(h.name, h.character, span.root, frozenset(t.i for t in span), q))
    return occs


def _speaker(occs: list[Occ]) -> str | None:
    """The character outside the quotes who says it ("said Elizabeth", "Mr. Bennet replied")."""
    found = {o.name for o in occs if o.character and not o.quoted and o.root.dep_ == "nsubj" and o.root.head.lower_ in SPEECH}
    return found.pop() if len(found) == 1 else None


def couples(by_name: dict[str, LoreMention], have: list[dict[str, str]]) -> list[dict[str, str]]:
    """ "Mrs. Bennet" and "Mr. Bennet", "Lady Lucas" and "Sir William Lucas" (or "Lord
    Ashby" and "Lady Ashby") named in one chunk: a married couple ({"via": "names"})."""
    out = []
    for name in sorted(by_name):
        p = parse_name(name)
        if p.title not in ("mrs", "mistress", "lady") or p.is_full:
            continue
        if p.title == "lady":  # a knight's, a baronet's or a peer's wife: "Lady" and his surname
            lords = (n for n in sorted(by_name) if (q := parse_name(n)).title in ("sir", "lord") and q.words[-1:] == p.words)
            husband = next(lords, None)
        else:
            husband = next((h for h in (mr + " ".join(p.words) for mr in ("Mr. ", "Mr ", "Mister ")) if h in by_name), None)
        if husband is not None:
            rel = {"source": name, "target": husband, "label": "wife of", "via": "names"}
            if not any(_same(rel, q) for q in have):
                out.append(rel)
    return out


def _title_gender(name: str) -> str | None:
    """The gender a name's title says ("Mr." -> "m"), else its given name's when one sex
    bears it far more often ("Catherine" -> "f", lore/given_names.py); pronouns around a
    name are too noisy to veto a relation ("Captain Reddick was her godfather")."""
    p = parse_name(name)
    return TITLES[p.title][1] if p.title else _given_sex(p)


def _given_sex(p: Parsed) -> str | None:
    """An untitled name's sex by its given name (lore/given_names.py), if one sex bears it."""
    return given_gender(p.first) if p.words and not p.title else None


def _same(a: dict[str, str], b: dict[str, str]) -> bool:
    return (a["source"], a["target"], a["label"]) == (b["source"], b["target"], b["label"])


def _after(i: int, char_sents: set[int]) -> bool:
    return any(i - k in char_sents for k in range(1, LOOKBACK + 1))


def _pronoun_copula(
    pdoc: Doc, base: int, antecedent: _Antecedent, offer: Callable[[str, str, int, str], None], text: str
) -> None:
    """ "He was nineteen, broad in the shoulder..." -> a description of the nearest
    earlier character of that gender."""
    for tok in pdoc:
        if tok.lower_ in ("he", "she") and tok.dep_ in ("nsubj", "nsubjpass") and tok.head.dep_ == "ROOT":
            head = tok.head
            copula = head.lower_ in ("was", "is", "became", "seemed", "looked") and any(
                c.dep_ in ("attr", "acomp") for c in head.children
            )
            perfect = any(c.dep_ == "aux" and c.lower_ in ("had", "has") for c in head.children)
            if copula or perfect:
                name = antecedent(base + tok.idx, "m" if tok.lower_ == "he" else "f")
                if name:
                    offer(name, "pronoun", base + tok.idx, line_at(text, 0))
            return
