"""State facts one chunk states about its characters (issue 26), read offline off
spaCy: deaths, eye and hair colour, age, gender, role, married name, kinship and
whereabouts. Stored by name with their chunk and resolved to entities at read time.

Only sentences that name someone (or follow one, for "He died") and hold a cue word
(lore/fact_words.py ``CUE``) are parsed, with lore/parse.py's parser. A clause that is
negated, modal, conditional, a question or under a verb of belief states nothing
("was thought dead", "if he died", "I fear she is dead"). A pronoun outside quotes
stands for the nearest earlier character of its gender (lore/chunk_view.py).

Values: "dead"; a colour ("blue", "light brown"); an age ("23"); "male"/"female"; an occupation ("clockmaker");
a married name ("Mrs. Harker"); ``ROLE:NAME`` for kin, read "NAME is the fact name's ROLE" ("Arthur's sister
Emily" -> Fact("kin", "Arthur", "sister:Emily")); a place ("Whitby") or "left Whitby".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from automuse_rag.lore.chunk_view import PRONOUNS, ChunkView, Parsed, alternatives, clause, hedged, outlived, question, unreal
from automuse_rag.lore.fact_words import (
    AGE_PAST,
    BECOME,
    CUE,
    DIED,
    DISGUISE,
    EYE_COLOURS,
    EYES,
    GRAVE,
    HAIR,
    HAIR_COLOURS,
    HANG_ADVERBS,
    KILLED,
    MARRIED,
    NEARLY,
    NOMINAL,
    OCCUPATIONS,
    PLACE_PREPS,
    PLACE_VERBS,
    RECOLOUR,
    TENS,
    UNITS,
    colour_of,
    death_word,
    kin_word,
)
from automuse_rag.lore.names import TITLES, parse_name
from automuse_rag.lore.relation_words import BE
from automuse_rag.lore.relations import sentence_facts
from automuse_rag.lore.types import LoreMention
from automuse_rag.text import clip

if TYPE_CHECKING:
    from spacy.tokens import Token

FACT_KINDS = ("dead", "eyes", "hair", "age", "gender", "role", "married_name", "kin", "place")
MAX_SENTENCE = 300
PRONOUN_START = re.compile(r"^\W*(?:He|She|His|Her)\b")
GENDER = {"m": "male", "f": "female"}


@dataclass(frozen=True)
class Fact:
    kind: str  # one of FACT_KINDS
    name: str  # the surface name the sentence gives (or the name a pronoun resolves to)
    value: str
    sentence: str  # the source sentence, clipped to MAX_SENTENCE chars
    chunk: int = -1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Fact:
        return cls(str(d["kind"]), str(d["name"]), str(d["value"]), str(d.get("sentence", "")), int(d.get("chunk", -1)))


def extract_facts(doc: Any, chunk: int = -1, mentions: Collection[LoreMention] | None = None) -> list[Fact]:
    """State facts a spaCy doc of one chunk states (the NER doc lore/ner.py makes;
    ``mentions``: its ``ner_mentions`` when the caller has them)."""
    view = ChunkView(doc, mentions)
    return facts_of(view, chunk)


def facts_of(view: ChunkView, chunk: int = -1) -> list[Fact]:
    out: list[Fact] = []
    seen: set[tuple[str, str, str]] = set()

    def add(kind: str, name: str | None, value: str, text: str) -> None:
        if name and value and (kind, name, value) not in seen:
            seen.add((kind, name, value))
            out.append(Fact(kind, name, value, clip(" ".join(text.split()), MAX_SENTENCE), chunk))

    for s in view.parse(wanted_sentences(view)):
        sentence_facts_of(view, s, add)
    for h in view.chars:
        title = parse_name(h.name).title
        gender = TITLES[title][1] if title else view.genders.get(h.name)
        if gender:
            add("gender", h.name, GENDER[gender], view.sents[h.sent].text)
    return out


def wanted_sentences(view: ChunkView) -> list[int]:
    named = {h.sent for h in view.hits}
    return [
        i
        for i, s in enumerate(view.sents)
        if CUE.search(s.text) and (i in named or (i - 1 in named and PRONOUN_START.match(s.text) is not None))
    ]


def sentence_facts_of(view: ChunkView, s: Parsed, add: Callable[[str, str | None, str, str], None]) -> None:
    """Every fact of one parsed sentence, through ``add(kind, name, value, text)``."""
    if question(s):
        return
    for tok in s.pdoc:
        w = tok.lower_
        if death_word(w) or w == "late":
            add("dead", dead_subject(view, s, tok), "dead", s.text)
        elif w in EYES or w in HAIR:
            name, colour = looks(view, s, tok)
            add("eyes" if w in EYES else "hair", name, colour, s.text)
        elif w in OCCUPATIONS and s.occ(tok) is None:
            add("role", role_holder(view, s, tok), w, s.text)
        elif w in PLACE_VERBS or w in BE:
            name, place = whereabouts(view, s, tok)
            add("place", name, place, s.text)
        if w in BE or w in ("old", "aged", "of"):
            name, age = age_of(view, s, tok)
            add("age", name, age, s.text)
    for kind, name, value in kin_facts(view, s):
        add(kind, name, value, s.text)


def _nsubj(view: ChunkView, s: Parsed, verb: Token, deps: tuple[str, ...] = ("nsubj",), anyname: bool = False) -> str | None:
    """The character subject of ``verb``; None when it has two subjects ("Victor, he is
    murdered!": a vocative and a pronoun)."""
    subjects = [c for c in verb.children if c.dep_ in ("nsubj", "nsubjpass", "csubj", "expl")]
    if len(subjects) != 1 or subjects[0].dep_ not in deps:
        return None
    if subjects[0].lower_ in ("who", "that") and verb.dep_ == "relcl":  # "Nora Fairley, who was twenty-three"
        o = s.occ(verb.head)
        return o.name if o is not None and (o.character or anyname) else None
    return view.who(s, subjects[0], anyname=anyname)


def dead_subject(view: ChunkView, s: Parsed, tok: Token) -> str | None:
    """Whose death ``tok`` states, or None."""
    w = tok.lower_
    if (others := alternatives(tok)) is not None and not all(death_word(o.lower_) for o in others):
        return None  # one of alternatives that are not all deaths ("either killed or disabled")
    if w == "dead" and tok.dep_ in ("acomp", "oprd"):
        head = tok.head
        if head.lower_ not in BE | {"lay", "lies", "lying", "found", "fell", "dropped", "shot"} or unreal(head):
            return None
        if any(c.dep_ == "advmod" and c.lower_ in NEARLY for c in tok.children) or any(c.dep_ == "prep" for c in tok.children):
            return None  # "half dead", "dead to the world", "dead with fatigue"
        return _nsubj(view, s, head, ("nsubj", "nsubjpass"), anyname=True)
    if w in DIED and tok.dep_ in ("ROOT", "conj", "ccomp", "advcl", "relcl"):
        if unreal(tok) or any(c.dep_ in ("prt", "dobj") for c in tok.children):
            return None  # "died away", "died a thousand deaths"
        return _nsubj(view, s, tok, anyname=True)
    if w in KILLED and tok.dep_ not in ("amod", "compound"):
        if unreal(tok) or outlived(tok) or (w == "shot" and not any(c.lower_ == "dead" for c in tok.children)):
            return None
        if any(
            c.dep_ == "prt" or (w in ("hung", "hanged") and c.dep_ == "advmod" and c.lower_ in HANG_ADVERBS) for c in tok.children
        ):
            return None  # a phrasal verb: "we hung him up to the windmill" (a snake), "cut him up", "hung together"
        if any(c.dep_ == "auxpass" for c in tok.children):
            return _nsubj(view, s, tok, ("nsubjpass",), anyname=True)
        if w == "drowned":
            return _nsubj(view, s, tok, anyname=True)
        # "Buck smothered him": an object pronoun is never its own verb's subject
        subject = next((c for c in tok.children if c.dep_ == "nsubj"), None)
        own = view.who(s, subject, anyname=True) if subject is not None else None
        victims = (view.who(s, c, {own} if own else (), anyname=True) for c in tok.children if c.dep_ == "dobj")
        return next((n for n in victims if n and n != own), None)
    if w == "late":
        head = tok.head
        if tok.dep_ == "amod" and s.occ(head) is not None and any(c.lower_ == "the" for c in head.children):
            name = view.who(s, head)
            # "the late Mr. Darcy" is the father of the living Mr. Darcy: only a full name
            return name if name and len(parse_name(name).words) >= 2 else None
        return None
    if (w == "death" or w in GRAVE) and tok.dep_ not in ("amod", "compound", "advmod", "acomp"):
        if w in ("murderer", "murder") or unreal(clause(tok)) or hedged(tok):
            return None
        if tok.dep_ in ("nsubj", "nsubjpass") and tok.head.dep_ in NOMINAL:
            return None  # "awed by Sir Thomas's grave looks": the adjective, parsed as the subject of a noun
        if any(c.dep_ == "prep" and c.lower_ in ("on", "for", "about", "over") for c in tok.children):
            return None  # "Henry's epitaph on this, the latest lost dog": Henry wrote it
        for c in tok.children:
            if c.dep_ == "poss" and (o := s.occ(c)) is not None and o.character:
                return o.name
            if c.dep_ == "prep" and c.lower_ == "of":
                return next((o.name for p in c.children if (o := s.occ(p)) is not None and o.character), None)
    return None


def looks(view: ChunkView, s: Parsed, tok: Token) -> tuple[str | None, str]:
    """(whose, colour) of "her blue eyes", "X had grey eyes", "X's golden hair",
    "his eyes were blue"."""
    table = EYE_COLOURS if tok.lower_ in EYES else HAIR_COLOURS
    word = next((c for c in tok.children if c.dep_ in ("amod", "compound") and c.lower_ in table), None)
    if word is None and tok.dep_ == "nsubj" and tok.head.lower_ in BE:
        acomp = [c for c in tok.head.children if c.dep_ == "acomp" and c.lower_ in table]
        word = acomp[0] if acomp and not any(c.dep_ == "prep" for c in acomp[0].children) else None
    colour = colour_of(word) if word is not None else ""
    if not colour or unreal(clause(tok)):
        return None, ""
    owner = next((c for c in tok.children if c.dep_ == "poss"), None)
    if owner is not None and owner.lower_ == "whose":  # "Nora Fairley, whose eyes were grey"
        rel = clause(tok)
        o = s.occ(rel.head) if rel.dep_ == "relcl" else None
        return (o.name, colour) if o is not None and o.character else (None, "")
    if owner is not None:
        name = view.who(s, owner)
        subject = next((c for c in clause(tok).children if c.dep_ == "nsubj"), None)
        if (
            s.occ(owner) is None
            and subject is not None
            and subject.i != tok.i  # "her dark hair fell loose": the hair is the subject
            and subject.lower_ not in PRONOUNS
            and view.who(s, subject) != name
        ):
            return None, ""  # "Sissy, with her dark eyes ..." is Sissy's, whom NER missed
        return name, colour
    if tok.dep_ == "dobj" and tok.head.lower_ in ("had", "has", "have"):
        return _nsubj(view, s, tok.head), colour
    return _with_holder(view, s, tok), colour


def _with_holder(view: ChunkView, s: Parsed, tok: Token) -> str | None:
    """Whose "with ... eyes" or "with a braid of red hair" is: the character the "with"
    phrase hangs on, or the subject of the copula whose predicate noun it hangs on ("He
    was a pale young man, with brown eyes"). Not "a sailor with blue eyes" after a verb."""
    holder = tok
    while holder.dep_ == "pobj" and holder.head.lower_ == "of" and holder.head.dep_ == "prep":
        holder = holder.head.head  # "a braid of red hair"
    if not (holder.dep_ == "pobj" and holder.head.lower_ == "with" and holder.head.dep_ == "prep"):
        return None
    holder = holder.head.head
    if (o := s.occ(holder)) is not None:
        return o.name if o.character else None
    if holder.dep_ == "attr" and holder.head.lower_ in BE:
        holder = holder.head
    if holder.lower_ in BE and not unreal(holder):  # "... was a tall girl, with red hair"
        return _nsubj(view, s, holder)
    return None


def change_stated(pdoc: Any) -> bool:
    """Whether a parsed sentence states a change of eye or hair colour (the forms are
    at :data:`~automuse_rag.lore.fact_words.RECOLOUR`)."""
    colours = EYE_COLOURS.keys() | HAIR_COLOURS.keys() | {"colour", "color"}
    for n in pdoc:
        if n.lower_ in DISGUISE:
            return True
        if n.lower_ not in EYES and n.lower_ not in HAIR:
            continue
        verb = n.head
        if n.dep_ in ("nsubj", "nsubjpass", "dobj") and verb.lower_ in RECOLOUR:
            return True
        if n.dep_ not in ("nsubj", "nsubjpass"):
            continue
        parts = [c for c in verb.children if c.dep_ != "prep"] + [
            g for c in verb.children if c.dep_ == "prep" for g in c.children
        ]
        if any(c.lower_ == "now" for c in parts):
            return True
        if verb.lower_ in BECOME and any(c.lower_ in colours for c in parts):
            return True
    return False


def _number(tok: Token) -> int | None:
    if any(t.dep_ not in ("compound", "punct", "nummod", "quantmod") for t in tok.subtree if t.i != tok.i):
        return None
    words = [t.lower_ for t in tok.subtree if t.text != "-"]
    text = "-".join(words)
    if text.isdigit():
        n = int(text)
    elif text in UNITS:
        n = UNITS[text]
    elif text in TENS:
        n = TENS[text]
    elif len(words) == 2 and words[0] in TENS and words[1] in UNITS and UNITS[words[1]] < 10:
        n = TENS[words[0]] + UNITS[words[1]]
    else:
        return None
    return n if 2 <= n <= 110 else None


def age_of(view: ChunkView, s: Parsed, tok: Token) -> tuple[str | None, str]:
    """(whose, age) of "X was twenty-three", "X was forty years old", "X, aged 30",
    "X, a man of forty"."""
    if any(t.lower_ in AGE_PAST for t in s.pdoc):
        return None, ""  # "when she was ten", "as a child", "ten years ago"
    w = tok.lower_
    age: int | None = None
    owner: str | None = None
    if w in BE and not unreal(tok):
        for c in tok.children:
            if c.dep_ in ("attr", "acomp") and (age := _number(c)):
                owner = _nsubj(view, s, tok)
            elif c.dep_ == "acomp" and c.lower_ == "old":
                years = next((y for y in c.children if y.dep_ == "npadvmod" and y.lower_ == "years"), None)
                num = next((n for n in years.children if n.dep_ == "nummod"), None) if years is not None else None
                if num is not None and (age := _number(num)):
                    owner = _nsubj(view, s, tok)
    elif w == "aged" and (o := s.occ(tok.head)) is not None and o.character:
        num = next((c for c in tok.children if c.dep_ in ("npadvmod", "dobj", "nummod", "attr")), None)
        if num is not None and (age := _number(num)):
            owner = o.name
    elif w == "of" and tok.head.lower_ in ("man", "woman", "girl", "boy", "lad", "lass", "fellow", "gentleman", "lady"):
        noun = tok.head
        num = next((c for c in tok.children if c.dep_ == "pobj"), None)
        if num is not None and (age := _number(num)) and noun.dep_ == "appos":
            o = s.occ(noun.head)
            owner = o.name if o is not None and o.character else None
        elif age and noun.dep_ == "attr" and noun.head.lower_ in BE and not unreal(noun.head):
            owner = _nsubj(view, s, noun.head)
    return (owner, str(age)) if owner and age else (None, "")


def role_holder(view: ChunkView, s: Parsed, tok: Token) -> str | None:
    """Who holds the occupation ``tok`` names: "the clockmaker Nora", "Nora, the
    clockmaker", "X was a priest" (never "his servant": that is a relation)."""
    if any(c.dep_ == "poss" for c in tok.children) or not any(c.lower_ in ("the", "a", "an") for c in tok.children):
        if tok.dep_ != "compound":
            return None
    if tok.dep_ in ("appos", "compound") and (o := s.occ(tok.head)) is not None and o.character:
        return o.name
    for c in tok.children:
        if c.dep_ == "appos" and (o := s.occ(c)) is not None and o.character:
            return o.name
    if tok.dep_ == "attr" and tok.head.lower_ in BE and not unreal(tok.head):
        return _nsubj(view, s, tok.head)
    return None


def whereabouts(view: ChunkView, s: Parsed, tok: Token) -> tuple[str | None, str]:
    """(who, place) of "X arrived at P", "X reached P", "X left P", "X was in P"."""
    if unreal(tok):
        return None, ""
    prefix = PLACE_VERBS.get(tok.lower_, "")
    for c in tok.children:
        objs = [c] if c.dep_ == "dobj" and tok.lower_ in PLACE_VERBS else []
        if c.dep_ == "prep" and c.lower_ in PLACE_PREPS:
            objs = [p for p in c.children if p.dep_ == "pobj"]
        for p in objs:
            o = s.occ(p)
            if o is not None and not o.character:
                return _nsubj(view, s, tok), prefix + o.name
    return None, ""


def kin_facts(view: ChunkView, s: Parsed) -> list[tuple[str, str, str]]:
    """Kinship and marriage ("X's sister Y", "Y, his wife", "X married Y") through
    lore/relations.py's reader; "X married Y" also gives the wife a married name."""
    chars = [o for o in s.occs if o.character]
    if not chars:
        return []

    def pronoun(tok: Token, exclude: set[str]) -> str | None:
        return view.who(s, tok, exclude) if tok.lower_ in ("his", "her", "he", "she", "my") else None

    def gender(name: str) -> str | None:
        return view.genders.get(name)

    rels, _ = sentence_facts(s.pdoc, chars, pronoun, gender)
    out: list[tuple[str, str, str]] = []
    for r in rels:
        label, src, tgt = r["label"], r["source"], r["target"]
        if role := kin_word(label):
            out.append(("kin", tgt, f"{role}:{src}"))
        elif label in MARRIED:
            for a, b in ((src, tgt), (tgt, src)):
                g = gender(b)
                out.append(("kin", a, f"{'wife' if g == 'f' else 'husband' if g == 'm' else 'spouse'}:{b}"))
                if gender(a) == "f" and gender(b) == "m" and (surname := _surname(b)):
                    out.append(("married_name", a, f"Mrs. {surname}"))
    for tok in s.pdoc:  # "X became Mrs. Y"
        o = s.occ(tok)
        if o and tok.i == o.root.i and tok.dep_ in ("attr", "oprd") and parse_name(o.name).title == "mrs":
            if tok.head.lower_ in BE | {"became", "become"} and not unreal(tok.head):
                who = _nsubj(view, s, tok.head)
                if who and who != o.name:
                    out.append(("married_name", who, o.name))
    return out


def _surname(name: str) -> str | None:
    p = parse_name(name)
    return p.words[-1] if len(p.words) >= 2 or (p.title and p.words) else None
