"""Continuity: the sentences of one chunk that contradict facts known before it
(issue 26). Pure: the caller gives the chunk's NER doc, the facts known as of the
chunk resolved to entities (:class:`KnownFact`) and a resolver of surface names.

- ``dead_acts``: a character known dead acts or speaks in the narrative present: the
  subject, outside quotes, of an action verb that is not negated, modal, conditional,
  past perfect or under a verb of belief ("Lucy smiled", "said Lucy"). Being
  remembered, mourned or talked about (inside quotes), "the late X", a dream, a
  ghost, a portrait or a letter in the sentence or the three before it, and the
  death's own aftermath ("X lay dead", "X was buried") are not.
- ``attribute``: eye or hair colour outside every group of like colours (hair turning
  grey or white aside), an age going down, a gender title or reflexive against the
  known gender; never when the sentence states a change ("dyed", "turned", "now").
- ``kin``: one pair of people given two exclusive bonds (parent, child, sibling,
  spouse: "Y, his sister" when Y is known his wife; a cousin is no parent, child or
  sibling, though cousins may marry) or a sibling of the other sex.
- ``role``: someone else named as the holder of an occupation the plan gives one
  cast member ("The clockmaker's name was Emily" when the plan's clockmaker is Nora
  Fairley; lore/roles.py). Plan facts sit at chunk -1.
Precision first: every rule gives up when unsure.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from automuse_rag.lore.chunk_view import ChunkView, Parsed, question, unreal
from automuse_rag.lore.continuity_words import LAMENT, NOT_ACTS, WISH
from automuse_rag.lore.fact_words import (
    AGEING,
    EXCLUSIVE,
    EYE_COLOURS,
    EYE_GROUPS,
    HAIR_COLOURS,
    HAIR_GROUPS,
    INVERSE,
    KIN,
    NOT_COUSIN,
)
from automuse_rag.lore.facts import GENDER, MAX_SENTENCE, Fact, change_stated, facts_of, wanted_sentences
from automuse_rag.lore.family import husbands_surname
from automuse_rag.lore.names import TITLES, parse_name
from automuse_rag.lore.ner import ner_mentions
from automuse_rag.lore.relation_words import SPEECH
from automuse_rag.lore.relations import Occ
from automuse_rag.lore.roles import PLAN_CHUNK, role_breaks
from automuse_rag.lore.types import LoreMention
from automuse_rag.text import clip

if TYPE_CHECKING:
    from spacy.tokens import Token

CONTRADICTION_KINDS = ("dead_acts", "attribute", "kin", "role", "two_places")
CONTEXT = 3  # sentences before one whose words (a dream, a letter) excuse it
EXCUSE = re.compile(
    r"\b(?:dream\w*|ghost\w*|spirit\w*|phantom\w*|apparition\w*|vision\w*|spect(?:re|er)\w*|shade|haunt\w*|portrait\w*|"
    r"picture\w*|likeness|painting|photograph\w*|memor\w+|remember\w*|recall\w*|recollect\w*|letters?|wrote|written|"
    r"writes|diary|journal|manuscript|grave|tomb|coffin|corpse|body|funeral|buried|mourn\w*|the late|used to|formerly|"
    r"alive|lifetime|heaven|angel|soul|seemed|fancied|imagin\w*|delirium|delirious|"
    r"hallucinat\w*|asleep|resurrect\w*|risen|undead|vampire)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class KnownFact:
    """A fact resolved to an entity as of the chunk being checked."""

    fact: Fact  # fact.chunk < the chunk being checked
    entity: str  # entity id
    display: str  # the entity's display name


@dataclass(frozen=True)
class Contradiction:
    chunk: int
    kind: str  # one of CONTRADICTION_KINDS
    entity: str  # entity id
    display: str  # entity display name
    text: str  # the offending sentence
    fact: Fact  # the broken fact, with its own chunk and sentence
    again: tuple[int, ...] = ()  # later chunks of the range that break the same fact (see fold_repeats)

    def to_json(self, chapter: int) -> dict[str, Any]:
        return {
            "chunk": self.chunk,
            "chapter": chapter,
            "kind": self.kind,
            "entity": self.display,
            "text": self.text,
            "fact": {"kind": self.fact.kind, "chunk": self.fact.chunk, "text": self.fact.sentence},
        }


Resolve = Callable[[str], "str | None"]
# An editor's or translator's note ("[*] Dostoevsky appears to have forgotten ..."): not the story
FOOTNOTE = re.compile(r"\[(?:\*|\d+\]|Footnote)")


def find_contradictions(
    doc: Any,
    chunk: int,
    known: Sequence[KnownFact],
    resolve: Resolve,
    names: Mapping[str, Collection[str]] | None = None,
    opened: str = "",
) -> list[Contradiction]:
    """Sentences of one chunk's spaCy doc that contradict facts known before it.
    ``resolve(surface name)`` -> entity id as of this chunk, or None. ``names``: entity
    id -> its names then, for the story's entities: the names of those ``known`` is about
    count where NER tags none ("Clerval came up the stairs"), and who bears a surname is
    counted over all (:func:`_same_person`). ``opened``: the mark of a speech the chunk
    before left open (lore/chunk_view.py ``open_quote``): the chunk opens inside it."""
    known = [k for k in known if k.fact.chunk < chunk]
    if not known:
        return []
    ids = {k.entity for k in known} | {
        e for k in known if k.fact.kind == "kin" and (e := resolve(k.fact.value.partition(":")[2]))
    }
    people = {n for e in ids for n in (names or {}).get(e, ())}  # a tie's other person too
    view = ChunkView(doc, _with_known_names(doc, people), people, opened)
    out: list[Contradiction] = []
    seen: set[tuple[str, str, str]] = set()

    def add(kind: str, k: KnownFact, text: str) -> None:
        text = clip(" ".join(text.split()), MAX_SENTENCE)
        if (kind, k.entity, text) not in seen:
            seen.add((kind, k.entity, text))
            out.append(Contradiction(chunk, kind, k.entity, k.display, text, k.fact))

    dead: dict[str, list[KnownFact]] = {}  # an entity's deaths, first stated first
    for k in sorted(known, key=lambda k: k.fact.chunk):
        if k.fact.kind == "dead" and not husbands_surname(k.fact.name, (names or {}).get(k.entity, ())):
            dead.setdefault(k.entity, []).append(k)  # "After Cartlett's death" is not Arabella Cartlett's
    if dead:
        _dead_acts(view, dead, resolve, add, *(_bearers(names) if names else ((), ())))
    changed: set[str] | None = None  # the sentences stating a change of colour, found on first need
    for f in facts_of(view, chunk):
        entity = resolve(f.name)
        if entity is None:
            continue
        mine = [k for k in known if k.entity == entity and k.fact.kind == f.kind and _trusted(k, known)]
        if f.kind in ("eyes", "hair", "age", "gender"):
            if changed is None:
                parsed = view.parse(wanted_sentences(view))
                changed = {clip(" ".join(s.text.split()), MAX_SENTENCE) for s in parsed if change_stated(s.pdoc)}
            broken = _attribute(f, mine, f.sentence in changed)
            if broken is not None:
                add("attribute", broken, f.sentence)
        elif f.kind == "kin":
            broken = _kin(f, entity, known, resolve)
            if broken is not None:
                add("kin", broken, f.sentence)
    if dead or any(k.fact.kind == "gender" for k in known):
        _reflexive_gender(view, known, resolve, add)
    by_fact = {id(k.fact): k for k in known if k.fact.kind == "role" and k.fact.chunk == PLAN_CHUNK}
    for fact, _, text in role_breaks(view, [k.fact for k in by_fact.values()], resolve):
        add("role", by_fact[id(fact)], text)
    return out


def _with_known_names(doc: Any, people: set[str]) -> list[LoreMention] | None:
    """The chunk's NER mentions, and a PERSON mention for each of ``people`` (the names
    of those with known facts) that the text holds and NER did not give (None: NER's
    alone)."""
    if not people:
        return None
    mentions = ner_mentions(doc)
    have = {m.name for m in mentions}
    return [*mentions, *(LoreMention(name=n, labels={"PERSON": 1}) for n in sorted(people - have) if n in doc.text)]


def _bearers(names: Mapping[str, Collection[str]]) -> tuple[set[str], set[str]]:
    """(the surnames one entity bears, those several bear): last words of full and
    titled names."""
    bearers: dict[str, set[str]] = {}
    for eid, ns in names.items():
        for p in map(parse_name, ns):
            if p.words and (p.is_full or p.title):
                bearers.setdefault(p.words[-1], set()).add(eid)
    return {w for w, ids in bearers.items() if len(ids) == 1}, {w for w, ids in bearers.items() if len(ids) > 1}


def _dead_acts(
    view: ChunkView,
    dead: dict[str, list[KnownFact]],
    resolve: Resolve,
    add: Callable[[str, KnownFact, str], None],
    sole: Collection[str] = (),
    shared: Collection[str] = (),
) -> None:
    """The dead acting, speaking or spoken to; the death cited is the first of the
    entity's that holds the name used (see :func:`_same_person`; ``sole``, ``shared``:
    the surnames one entity of the story bears, and those several do)."""
    wanted = {h.sent for h in view.hits if resolve(h.name) in dead}
    for s in view.parse(wanted):
        if _excused(view, s.i) or FOOTNOTE.match(s.text.lstrip()):
            continue
        for o in s.occs:
            entity = resolve(o.name)
            deaths = dead.get(entity or "", ())
            death = next((k for k in deaths if _same_person(k.fact.name, o.name, sole, shared)), None)
            if death is None:
                continue
            if (not o.quoted and (_acts(s, o.root) or _says(s, o))) or (o.quoted and _addressed(s, o)):
                add("dead_acts", death, s.text)


def _family_name(name: str) -> bool:
    """A title and a surname alone ("Mr. Gatsby", "Major Sholto"): a name the family shares."""
    p = parse_name(name)
    return p.title is not None and len(p.words) == 1


def _same_person(dead: str, name: str, sole: Collection[str] = (), shared: Collection[str] = ()) -> bool:
    """A title and a surname alone ("Major Sholto", "Mr. Darcy") are a family's: the
    dead one's sons and widow bear them too, so only the same title counts for the
    dead ("Sholto" and "Mr. Sholto" are his sons), unless one entity of the story
    bears the surname (``sole``): "Mr. Gatsby's dead" is Jay Gatsby's death. A surname
    alone with no title that several entities bear (``shared``: "Four years later
    Sholto dies") says no one's death for sure, and holds no use."""
    d = parse_name(dead)
    if d.title is None and not (len(d.words) == 1 and d.words[0] in shared):
        return True  # a full name, a given name: the person's own
    if d.words[-1] in sole:
        return True
    if d.title is None:
        return False
    n = parse_name(name)
    return n.title is not None and TITLES[n.title][0] == TITLES[d.title][0] and n.words[-1:] == d.words


def _excused(view: ChunkView, i: int) -> bool:
    """A dream, a ghost, a letter, memory or the death itself in the sentence or the
    CONTEXT sentences before it in its paragraph."""
    for j in range(i, max(-1, i - CONTEXT - 1), -1):
        text = view.sents[j].text
        if EXCUSE.search(text):
            return True
        if "\n\n" in text[: len(text) - len(text.lstrip())] or (j > 0 and "\n\n" in view.sents[j - 1].text[-4:]):
            return False  # the paragraph starts here
    return False


def _acts(s: Parsed, root: Token) -> bool:
    """The name is the active subject of an action verb in the narrative present."""
    if root.dep_ != "nsubj" or any(c.dep_ == "amod" and c.lower_ == "late" for c in root.children):
        return False
    verb = root.head
    if verb.lower_ in NOT_ACTS or s.in_quotes(verb) or unreal(verb):
        return False
    if any(c.dep_ in ("aux", "auxpass") and c.lower_ in ("had", "'d", "’d", "has", "have", "been") for c in verb.children):
        return False  # past perfect: a flashback
    if verb.dep_ in ("relcl", "acl", "csubj") or any(c.dep_ in ("acomp", "oprd") and c.lower_ == "dead" for c in verb.children):
        return False
    return not question(s) and (verb.lower_ in SPEECH or verb.dep_ in ("ROOT", "conj", "advcl", "ccomp"))


def _says(s: Parsed, o: Occ) -> bool:
    """Dialogue attribution read off the words when the parse misses it: a speech
    verb right after a closing quote, then the name ('”, said Lucy, smiling')."""
    first = min(o.tokens)
    return first >= 2 and s.pdoc[first - 1].lower_ in SPEECH and s.pdoc[first - 2].text in ("”", '"', "’", "'")


def _addressed(s: Parsed, o: Occ) -> bool:
    """Spoken to in dialogue: the name set off as a vocative at the head of a speech
    ("Lucy, bring the lamp") or at its end ("Come in, Lucy!"), not in a list ("Lucy,
    Tom and I") and not a lament ("Oh, Lucy", "why did you leave us", "would to God you
    would speak, Fanny")."""
    first, last = min(o.tokens), max(o.tokens)
    tok = s.pdoc
    before = tok[first - 1].text if first > 0 else "“"
    after = tok[last + 1].text if last + 1 < len(tok) else ""
    then = tok[last + 2] if last + 2 < len(tok) else None
    head = before in ("“", '"', "‘") and after in (",", "!") and then is not None
    head = head and then is not None and s.occ(then) is None and then.lower_ not in ("and", "or")
    tail = before == "," and after in ("!", "?", ".", "”", '"', "’", "—")
    words = {t.lower_ for t in tok if s.in_quotes(t)}
    # "Mr. Gatsby—" to his father: a title and surname in address are any of the family
    return (head or tail) and not words & LAMENT and not WISH.search(s.text) and not _family_name(o.name)


def _colour_ok(kind: str, old: str, new: str) -> bool:
    table, groups = (EYE_COLOURS, EYE_GROUPS) if kind == "eyes" else (HAIR_COLOURS, HAIR_GROUPS)
    a, b = table.get(old, old), table.get(new, new)
    return a == b or any(a in g and b in g for g in groups) or (kind == "hair" and b in AGEING)


def _attribute(f: Fact, mine: list[KnownFact], changed: bool) -> KnownFact | None:
    """The known fact ``f`` breaks, if any; ``changed``: its sentence states a change
    (:func:`~automuse_rag.lore.facts.change_stated`)."""
    if not mine or changed:
        return None
    last = max(mine, key=lambda k: k.fact.chunk)
    if f.kind in ("eyes", "hair"):
        return last if not _colour_ok(f.kind, last.fact.value, f.value) else None
    if f.kind == "age":
        return last if int(f.value) < int(last.fact.value) else None
    # gender: only a title gives the new one ("Mr. X" for a woman); pronoun counts are too noisy
    title = parse_name(f.name).title
    values = {k.fact.value for k in mine}
    if title and TITLES[title][1] and len(values) == 1 and f.value not in values:
        return last
    return None


def _bond(role: str) -> tuple[str, str | None]:
    return KIN.get(role, ("", None))


def excludes(a: str, b: str) -> bool:
    """Whether two kin classes (lore/fact_words.py ``KIN``) cannot both hold for one
    pair of people: two of parent, child, sibling and spouse, or a cousin and one of
    parent, child and sibling (cousins may marry)."""
    if a == b:
        return False
    return (a in EXCLUSIVE and b in EXCLUSIVE) or ("cousin" in (a, b) and ({a, b} - {"cousin"}) <= NOT_COUSIN)


def _kin(f: Fact, entity: str, known: Sequence[KnownFact], resolve: Resolve) -> KnownFact | None:
    """``f``: B is A's ROLE (A = f.name). A known bond between the same two people that
    excludes it, or a sibling of the other sex."""
    role, _, other = f.value.partition(":")
    if re.search(rf"{role}-in-law|step-?{role}|half-{role}|foster", f.sentence, re.IGNORECASE):
        return None
    b = resolve(other)
    cls, sex = _bond(role)
    if b is None or b == entity or not cls:
        return None
    for k in known:
        if k.fact.kind != "kin":
            continue
        krole, _, kother = k.fact.value.partition(":")
        kcls, ksex = _bond(krole)
        kb = resolve(kother)
        if not kcls or kb is None:
            continue
        if k.entity == entity and kb == b:
            same = kcls
        elif k.entity == b and kb == entity:
            same, ksex = INVERSE[kcls], None
        else:
            continue
        if excludes(cls, same):
            return k
        if cls == same and sex and ksex and sex != ksex:
            return k
    return None


def _trusted(k: KnownFact, known: Sequence[KnownFact]) -> bool:
    """A fact the checker holds the story to. A gender when a title gave it ("Mr.
    Hawkins"), or when the pronouns of two chunks or more gave it: one chunk's are too
    noisy ("the memory of Katrine was vividly with him" made Katrine a man, and every
    "Mrs. Lennox" after it a contradiction, in a novel nobody tuned on)."""
    f = k.fact
    if f.kind != "gender" or ((t := parse_name(f.name).title) and TITLES[t][1]):
        return True
    return len({o.fact.chunk for o in known if o.entity == k.entity and o.fact.kind == "gender" and o.fact.value == f.value}) >= 2


def _reflexive_gender(
    view: ChunkView, known: Sequence[KnownFact], resolve: Resolve, add: Callable[[str, KnownFact, str], None]
) -> None:
    """ "X shook his head", "X found himself" for a character known female (or the
    reverse): a pronoun that can only be the subject's own."""
    genders: dict[str, dict[str, KnownFact]] = {}
    for k in known:
        if k.fact.kind == "gender" and _trusted(k, known):
            genders.setdefault(k.entity, {})[k.fact.value] = k
    sure = {e: next(iter(v.values())) for e, v in genders.items() if len(v) == 1}
    wanted = {h.sent for h in view.chars if resolve(h.name) in sure and OWN.search(view.sents[h.sent].text)}
    for s in view.parse(wanted):
        for o in s.occs:
            entity = resolve(o.name) if o.character else None
            if entity not in sure or o.root.dep_ != "nsubj":
                continue
            k = sure[entity]
            verb = o.root.head
            for c in verb.children:
                own = c.lower_ in ("himself", "herself") and c.dep_ in ("dobj", "pobj", "npadvmod")
                own = own or (c.dep_ == "dobj" and c.lower_ in OWN_NOUNS and any(p.lower_ in ("his", "her") for p in c.children))
                word = (
                    c.lower_
                    if c.lower_ in ("himself", "herself")
                    else next((p.lower_ for p in c.children if p.dep_ == "poss"), "")
                )
                said = "male" if word in ("his", "himself") else "female" if word in ("her", "herself") else ""
                if own and said and said != k.fact.value and said in GENDER.values() and verb.lower_ in OWN_VERBS | {"found"}:
                    add("attribute", k, s.text)


OWN = re.compile(r"\b(?:himself|herself|his head|her head|his shoulders|her shoulders)\b", re.IGNORECASE)
OWN_NOUNS = {"head", "shoulders"}
OWN_VERBS = {"shook", "nodded", "scratched", "shrugged", "bowed", "hung", "tossed", "found", "seated", "threw", "drew", "raised"}
