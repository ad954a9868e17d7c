"""Offline relations between named characters, read off spaCy's dependency parse of
one sentence, and the "different people" evidence the resolver uses.

Relations (``source`` is ``label`` ``target``):

- possessive kinship and roles: "his sister Jane", "Mr. Bennet's wife" in "Mrs. Bennet
  was Mr. Bennet's wife", "Lydia, Kitty's younger sister", "Darcy's friend Bingley"
  -> (Jane, <him>, "sister of"); a possessive pronoun is resolved to the nearest
  earlier character of its gender;
- appositives and copulas with "of": "Mr. Collins, a cousin of Mr. Bennet" -> "cousin of";
- a relational verb between two people: "Wickham married Lydia" -> "married"; "played
  chess with", "engaged to" (verb or adjective + preposition); passives turned round.

Negated, modal and conditional clauses and questions give no relation. Every relation
and every pair of names joined by "and", by subject and object of one verb, or by
dialogue attribution (a speaker outside the quotes, a name inside) is recorded as
two different people (:func:`sentence_facts`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from automuse_rag.lore.family import FAMILY_VIA
from automuse_rag.lore.relation_words import (
    BE,
    FEMALE_ROLES,
    IRREGULAR,
    KIN_TITLES,
    MALE_ROLES,
    MODAL,
    NOT_YET,
    PLURAL_ROLES,
    PREPS,
    RECIPROCAL,
    RELATIONAL_ADJ,
    ROLES,
    SPEECH,
    VERBS,
)

if TYPE_CHECKING:
    from spacy.tokens import Doc, Token


#: ``pronoun(token, exclude)``: the character a pronoun refers to, other than ``exclude``.
PronounFn = Callable[["Token", set[str]], str | None]
#: ``occ(token)``: the character name occurrence covering the token, if any.
OccFn = Callable[["Token"], "Occ | None"]
#: ``kin(token, role, owner)``: the character an unnamed kin noun ("her mother") of ``owner``
#: refers to, or the family candidates the story decides among when it is read (a tuple:
#: lore/family.py), or None.
KinFn = Callable[["Token", str, str], "str | tuple[str, ...] | None"]
#: ``add(source, target, label, token[, via])``: record a relation read at ``token``.
AddFn = Callable[..., None]


def verb_base(word: str) -> str | None:
    """The base form of a verb form when it is a relational verb ("married" -> "marry")."""
    w = word.lower()
    if w in IRREGULAR:
        return IRREGULAR[w]
    cands = [w]
    for suf, add in (
        ("ied", "y"),
        ("ies", "y"),
        ("ying", "y"),
        ("ed", ""),
        ("ed", "e"),
        ("d", ""),
        ("es", ""),
        ("s", ""),
        ("ing", ""),
        ("ing", "e"),
    ):
        if w.endswith(suf):
            stem = w[: -len(suf)] + add
            cands += [stem, stem[:-1] if len(stem) > 2 and stem[-1] == stem[-2] else stem]
    return next((c for c in cands if c in VERBS), None)


@dataclass
class Occ:
    """A name occurrence in a parsed sentence: its (cleaned) name, whether it is a
    character, its head token and the token indices it covers."""

    name: str
    character: bool
    root: Token
    tokens: frozenset[int]
    quoted: bool = False


def _blocked(verb: Token) -> bool:
    """Negated, modal, conditional or hypothetical clause, an indirect question ("how
    he liked Netherfield", "where he met Daisy"), or "nothing" as the object."""
    for c in verb.children:
        if (
            c.dep_ == "neg"
            or (c.dep_ == "aux" and c.lower_ in MODAL)
            or (c.dep_ == "mark" and c.lower_ in ("if", "whether", "unless", "though", "although"))
        ):
            return True
        if c.dep_ == "advmod" and c.lower_ in ("how", "why", "where", "when", "never"):
            return True
        if c.dep_ == "dobj" and (
            c.lower_ in ("nothing", "none") or any(d.dep_ == "det" and d.lower_ == "no" for d in c.children)
        ):
            return True
    return False


def sentence_facts(
    doc: Doc,
    occs: list[Occ],
    pronoun: PronounFn,
    gender: Callable[[str], str | None] = lambda name: None,
    kin: KinFn | None = None,
) -> tuple[list[dict[str, str]], list[tuple[str, str]]]:
    """Relations and different-people pairs of one parsed sentence. ``occs``: the
    names in it; ``pronoun(token, exclude)``: the character name a possessive pronoun
    refers to, other than ``exclude`` (or None); ``gender(name)``: "m", "f" or None
    (a "sister" is never a man); ``kin(token, role, owner)``: whom an unnamed kin
    noun refers to ("Miss Welland ... her mother")."""
    at: dict[int, Occ] = {i: o for o in occs for i in o.tokens}
    chars = [o for o in occs if o.character]
    rels: list[dict[str, str]] = []
    distinct: set[tuple[str, str]] = set()
    question = doc.text.rstrip(" \"”’'").endswith("?")

    def occ(tok: Token) -> Occ | None:
        o = at.get(tok.i)
        return o if o is not None and o.character else None

    def add(src: Occ | str, tgt: Occ | str, label: str, token: Token, via: str = "parse", held: bool = False) -> None:
        """``held``: a kin noun with its possessor ("my sister Emily"), which says whose
        kin she is whatever its clause's mood ("I'll telephone my sister Emily", "Did
        you see my sister?"); a tie stated by a verb or a copula keeps its clause's."""
        s = src if isinstance(src, str) else src.name
        t = tgt if isinstance(tgt, str) else tgt.name
        if s == t or not label:
            return
        if not (isinstance(src, str) and isinstance(tgt, str)):  # two names by co-reference alone: no evidence
            distinct.add((min(s, t), max(s, t)))  # that they are different people to the resolver
        verb = token if token.dep_ in ("ROOT", "conj", "relcl", "ccomp", "advcl", "xcomp") else token.head
        if not held and (question or _blocked(verb) or _blocked(token)):
            return
        rel = {"source": s, "target": t, "label": label, "via": via}
        if rel not in rels:
            rels.append(rel)

    for tok in doc:
        role = tok.lower_ if tok.lower_ in ROLES else PLURAL_ROLES.get(tok.lower_)
        if role is not None and occ(tok) is None:
            _role_facts(tok, role, occ, pronoun, add, gender, kin)
        base = verb_base(tok.text)
        if base is not None and tok.dep_ not in ("nsubj", "dobj", "pobj", "compound", "amod", "poss", "appos", "attr"):
            _verb_facts(tok, occ, add, pronoun)
        if tok.lower_ in RELATIONAL_ADJ and tok.dep_ in ("acomp", "ROOT", "conj", "amod") and not _a_verb(tok):
            _adj_facts(tok, occ, add)
    for o in chars:
        _kin_title_facts(doc, o, occ, pronoun, add)
    for tok in doc:
        if tok.lower_ in RECIPROCAL:
            _reciprocal_facts(tok, occ, add)
    for a in chars:
        for b in chars:
            if a.name < b.name and _different(a, b, doc):
                distinct.add((a.name, b.name))
    return rels, sorted(distinct)


def _a_verb(tok: Token) -> bool:
    """A relational adjective's word used as a verb with its own subject or object:
    "Elizabeth related to Jane what had passed" (told), not "was related to"."""
    return tok.dep_ in ("ROOT", "conj") and any(c.dep_ in ("nsubj", "dobj", "ccomp") for c in tok.children)


def _reciprocal_facts(tok: Token, occ: OccFn, add: AddFn) -> None:
    """ "Henry and Catherine were married", "they were engaged": a relation between two
    names joined as the subject of "married"/"engaged"/"betrothed" with no object
    ("engaged in talk" and "married to X" are something else)."""
    head = tok.head if tok.dep_ == "acomp" else tok
    if tok.dep_ not in ("ROOT", "conj", "acomp", "ccomp", "advcl", "relcl") or any(
        c.dep_ in ("dobj", "agent") or (c.dep_ == "prep" and (c.lower_ in PREPS or tok.lower_ == "engaged")) for c in tok.children
    ):
        return
    for c in head.children:
        if c.dep_ in ("nsubj", "nsubjpass") and (a := occ(c)):
            for d in c.children:
                if d.dep_ == "conj" and (b := occ(d)) and b.name != a.name:
                    add(a, b, RECIPROCAL[tok.lower_], head)


def _kin_title_facts(doc: Doc, o: Occ, occ: OccFn, pronoun: PronounFn, add: AddFn) -> None:
    """A name titled as kin with a possessor: "her Aunt Josephine", "his Cousin Rudolf",
    "my Uncle Ebenezer" in dialogue -> (Aunt Josephine, <her>, "aunt of")."""
    first = doc[min(o.tokens)]
    if first.lower_ not in KIN_TITLES or not first.text[:1].isupper():
        return
    owner = _possessor(o.root, occ, pronoun, {o.name})
    if owner is not None:
        add(o, owner, f"{first.lower_} of", o.root, "parse", True)


def _not_plain(tok: Token) -> bool:
    """ "his future wife", "her great-grandmother": not the plain kin the word says."""
    before = tok.nbor(-1).lower_ if tok.i > 0 else ""
    twin = before == "-" and tok.i > 1 and tok.nbor(-2).lower_ == "twin"  # "her twin-brother" is her brother
    in_law = tok.i + 2 < len(tok.doc) and tok.nbor(1).text == "-" and tok.nbor(2).lower_ == "in"  # "brother-in-law"
    return (
        (before in ("-", "great") and not twin) or in_law or any(c.dep_ == "amod" and c.lower_ in NOT_YET for c in tok.children)
    )


def _unnamed_kin(tok: Token, role: str, occ: OccFn, pronoun: PronounFn, add: AddFn, kin: KinFn) -> None:
    """ "her mother" named nowhere in the sentence: whose (its possessor), and whom the
    scene says it is (``kin``)."""
    whose = _possessor(tok, occ, pronoun, set())
    name = whose if isinstance(whose, str) or whose is None else whose.name
    if name is None:
        return
    ref = kin(tok, role, name)
    if isinstance(ref, tuple):
        for cand in ref:  # the story decides when it is read (lore/family.py)
            add(cand, name, f"{role} of", tok, FAMILY_VIA, True)
    elif ref:
        add(ref, name, f"{role} of", tok, "parse", True)


def _possessor(head: Token, occ: OccFn, pronoun: PronounFn, exclude: set[str]) -> Occ | str | None:
    """Whose a noun is: its possessive child, a name or "his"/"her"/"my" resolved, or
    the name a "whose" clause hangs on ("Mr. Collins, whose sister Charlotte kept house")."""
    for c in head.children:
        if c.dep_ == "poss" and (o := occ(c)) and o.name not in exclude:
            return o
        if c.dep_ == "poss" and c.lower_ in ("his", "her", "my"):
            return pronoun(c, exclude)
        if c.dep_ == "poss" and c.lower_ == "whose":
            return _whose(head, occ, exclude)
        if c.dep_ == "poss" and c.lower_ == "your":
            return _addressee(head.doc, occ, exclude)
    return None


def _addressee(doc: Doc, occ: OccFn, exclude: set[str]) -> Occ | None:
    """The one name a speech is addressed to in its sentence: set off by a comma at the
    head of the speech ("Godfrey, that's a lucky brother of yours") or at its end ("Is
    your mother well, Mary?"), not in a list ("Godfrey, Dunstan and I")."""
    found: dict[str, Occ] = {}
    for t in doc:
        o = occ(t)
        if o is None or t.i != o.root.i or o.name in exclude:
            continue
        first, last = min(o.tokens), max(o.tokens)
        before = doc[first - 1].text if first > 0 else "“"
        after = doc[last + 1].text if last + 1 < len(doc) else ""
        then = doc[last + 2] if last + 2 < len(doc) else None
        head = before in ("“", '"') and after == "," and then is not None and (then.text[:1].islower() or then.text == "I")
        # the sentence splitter may leave a speech's quotation marks outside its sentence
        if (head and (o.quoted or first == 0)) or (
            before == "," and (after in ("!", "?") or (o.quoted and after in (".", "”", '"')))
        ):
            found[o.name] = o
    return next(iter(found.values())) if len(found) == 1 else None


def _whose(tok: Token, occ: OccFn, exclude: set[str]) -> Occ | None:
    verb = tok
    while verb.dep_ != "relcl" and verb.head.i != verb.i:
        verb = verb.head
    o = occ(verb.head) if verb.dep_ == "relcl" else None
    return o if o is not None and o.name not in exclude else None


def _role_facts(
    tok: Token, role: str, occ: OccFn, pronoun: PronounFn, add: AddFn, gender: Callable[[str], str | None], kin: KinFn | None
) -> None:
    if _not_plain(tok):
        return
    holders: list[Occ] = []
    if tok.dep_ == "appos" and (o := occ(tok.head)):
        holders.append(o)
    holders += [o for c in tok.children if c.dep_ == "appos" and (o := occ(c))]
    if tok.dep_ == "compound" and (o := occ(tok.head)):
        holders.append(o)
    own = list(holders)  # named in the kin noun's own phrase ("your brother Dickon"), not by a copula
    if tok.dep_ == "nsubj" and tok.head.lower_ in BE:  # "My father was Major Sholto"
        holders += [
            o
            for c in tok.head.children
            if c.dep_ in ("attr", "dep") and c.i > tok.head.i and (o := occ(c)) and not any(d.dep_ == "det" for d in c.children)
        ]  # not "her mother had been a Rushworth" (one of a family)
    pred = tok.head if tok.dep_ == "conj" and tok.head.dep_ == "attr" else tok  # "he was her friend and Ann's brother"
    if pred.dep_ == "attr" and pred.head.lower_ in BE:
        holders += [o for c in pred.head.children if c.dep_ == "nsubj" and (o := occ(c))]
        if not holders:  # "She was the daughter of Sir William": the nearest earlier woman
            he = next((c for c in pred.head.children if c.dep_ == "nsubj" and c.lower_ in ("he", "she")), None)
            named = {o.name for c in tok.subtree if (o := occ(c))}
            if he is not None and (ref := pronoun(he, named)):
                holders.append(Occ(ref, True, he, frozenset()))
    sex = "f" if role in FEMALE_ROLES else "m" if role in MALE_ROLES else None
    holders = [h for h in holders if not (sex and gender(h.name) not in (None, sex))]
    if not holders:
        if kin is not None and tok.lower_ == role and tok.dep_ not in ("compound", "appos"):
            _unnamed_kin(tok, role, occ, pronoun, add, kin)
        return
    exclude = {h.name for h in holders}
    owner = _possessor(tok, occ, pronoun, exclude)
    if owner is None and tok.dep_ == "compound" and holders:  # "her aunt Josephine": "her" heads the name
        owner = _possessor(tok.head, occ, pronoun, exclude)
    if owner is None:  # "a cousin of Mr. Bennet", "the daughter of Sir William", "a brother of yours"
        for prep in tok.children:
            if prep.dep_ == "prep" and prep.lower_ in ("of", "to"):
                owner = next((occ(p) for p in prep.children if p.dep_ == "pobj" and occ(p)), None)
                if owner is None and any(p.dep_ == "pobj" and p.lower_ == "yours" for p in prep.children):
                    owner = _addressee(tok.doc, occ, exclude)
    if owner is None:
        return
    poss = any(c.dep_ == "poss" for c in tok.children)  # "his sister Jane", "Tom's sister Ann"
    for h in holders:  # a copula's tie keeps its mood ("X was not the sister of Y")
        add(h, owner, f"{role} of", tok, "parse", poss and any(h is o for o in own))


def _verb_facts(verb: Token, occ: OccFn, add: AddFn, pronoun: PronounFn) -> None:
    if verb.lower_ == verb_base(verb.text) or any(c.dep_ == "aux" and c.lower_ == "to" for c in verb.children):
        return  # "make Lizzy marry Mr. Collins", "to marry": not something that happened
    subj: Occ | str | None = next((occ(c) for c in verb.children if c.dep_ == "nsubj" and occ(c)), None)
    if subj is None:  # "she married Mr. Collins": the nearest earlier woman
        objects = {o.name for c in verb.subtree if (o := occ(c))}
        he = next((c for c in verb.children if c.dep_ == "nsubj" and c.lower_ in ("he", "she")), None)
        subj = pronoun(he, objects) if he is not None else None
    if (
        subj is None
        and verb.dep_ == "relcl"
        and (head := occ(verb.head))
        and any(c.dep_ == "nsubj" and c.lower_ in ("who", "that") for c in verb.children)
    ):
        subj = head
    passive = next((occ(c) for c in verb.children if c.dep_ == "nsubjpass" and occ(c)), None)
    label = verb.lower_
    for c in verb.children:
        if c.dep_ in ("dobj", "dative") and (o := occ(c)) and subj and not any(d.dep_ == "case" for d in c.children):
            add(subj, o, label, verb)
        elif c.dep_ == "agent" and passive:
            agent = next((occ(p) for p in c.children if p.dep_ == "pobj" and occ(p)), None)
            if agent:
                add(agent, passive, label, verb)
        elif c.dep_ == "prep" and c.lower_ in PREPS and subj:
            obj = next((occ(p) for p in c.children if p.dep_ == "pobj" and occ(p)), None)
            if obj:
                add(subj, obj, f"{label} {c.lower_}", verb)
        elif c.dep_ == "dobj" and subj and not occ(c):  # "played chess with X", "fell in love with X"
            for p in c.children:
                if p.dep_ == "prep" and p.lower_ in PREPS:
                    obj = next((occ(q) for q in p.children if q.dep_ == "pobj" and occ(q)), None)
                    if obj:
                        add(subj, obj, f"{label} {c.lower_} {p.lower_}", verb)
        elif c.dep_ == "prep" and c.lower_ == "in" and subj:  # "fell in love with X"
            for n in c.children:
                for p in n.children:
                    obj = next((occ(q) for q in p.children if p.dep_ == "prep" and q.dep_ == "pobj" and occ(q)), None)
                    if obj:
                        add(subj, obj, f"{label} in {n.lower_} {p.lower_}", verb)


def _adj_facts(adj: Token, occ: OccFn, add: AddFn) -> None:
    head = adj.head if adj.dep_ in ("acomp", "amod") else adj
    subj = next((occ(c) for c in head.children if c.dep_ in ("nsubj", "nsubjpass") and occ(c)), None)
    if subj is None:
        return
    for p in adj.children:
        if p.dep_ == "prep" and p.lower_ in PREPS:
            obj = next((occ(q) for q in p.children if q.dep_ == "pobj" and occ(q)), None)
            if obj:
                add(subj, obj, f"{adj.lower_} {p.lower_}", head)


def _different(a: Occ, b: Occ, doc: Doc) -> bool:
    """Two names acting as different people: joined by "and"/"or", subject and object
    of one verb, or speaker and a name inside the quotes."""
    ra, rb = a.root, b.root
    if (rb.dep_ == "conj" and rb.head.i == ra.i) or (ra.dep_ == "conj" and ra.head.i == rb.i):
        return True
    for x, y in ((ra, rb), (rb, ra)):
        if x.dep_ in ("nsubj", "nsubjpass") and x.head.lower_ not in BE:
            verb = x.head
            if y.head.i == verb.i and y.dep_ in ("dobj", "dative", "agent"):
                return True
            if y.dep_ == "pobj" and y.head.dep_ in ("prep", "agent") and y.head.head.i == verb.i:
                return True
            if verb.lower_ in SPEECH and not (a if x is ra else b).quoted and (b if x is ra else a).quoted:
                return True
    return False
