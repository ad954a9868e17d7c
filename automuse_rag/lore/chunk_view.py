"""One chunk's NER doc seen by the fact reader (lore/facts.py) and the continuity
checker (lore/continuity.py): its names, their genders, pronoun antecedents, and the
parses of the sentences it asks for (lore/parse.py's parser, only those)."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from automuse_rag.lore.coref import OPENING, Scene, left_open, quoted_offsets, scene, single_quoted, single_style
from automuse_rag.lore.fact_words import CONDITIONAL_MARKS, FUTURE_MARKS, HEDGES, NEARLY, PRESENT, death_word, unreal_word
from automuse_rag.lore.ner import HE, SHE, ner_mentions, parse_sentences
from automuse_rag.lore.parse import _Hit, _occurrences, mention_genders, name_hits
from automuse_rag.lore.relation_words import MODAL, SPEECH
from automuse_rag.lore.relations import Occ
from automuse_rag.lore.types import LoreMention

if TYPE_CHECKING:
    from spacy.tokens import Doc, Token

ANTECEDENT_WINDOW = 600  # characters back to look for a pronoun's antecedent
MEN = {
    "man",
    "men",
    "father",
    "brother",
    "son",
    "husband",
    "uncle",
    "boy",
    "gentleman",
    "fellow",
    "king",
    "lord",
    "sir",
    "nephew",
}
WOMEN = {"woman", "mother", "sister", "daughter", "wife", "aunt", "girl", "lady", "queen", "niece", "widow", "maid", "madam"}
# A predicate noun after "was a": "was a tall, thin woman" (up to four words before the
# noun, none of them a preposition, an article or a possessive: not "a friend of the woman").
PREDICATE = re.compile(
    r"\b(?:was|is|were|became|seemed)\s+(?:a|an)\s+"
    r"(?:(?!(?:of|to|with|for|from|by|and|the|a|an|her|his|their)\b)[\w'-]+,?\s+){0,4}?"
    rf"(?:{'|'.join(sorted(MEN | WOMEN))})\b"
)
PRONOUNS = {"he": "m", "him": "m", "his": "m", "himself": "m", "she": "f", "her": "f", "herself": "f"}


@dataclass
class Parsed:
    """One parsed sentence of the chunk: its number, text, start offset, parse,
    names (characters and places) and which characters sit inside quotes."""

    i: int
    text: str
    base: int
    pdoc: Doc
    occs: list[Occ]
    quoted: list[bool]

    def occ(self, tok: Token) -> Occ | None:
        return next((o for o in self.occs if tok.i in o.tokens), None)

    def in_quotes(self, tok: Token) -> bool:
        return tok.idx < len(self.quoted) and self.quoted[tok.idx]


class ChunkView:
    """Names, genders and antecedents of one chunk's NER doc; parses on request.
    ``mentions``: the doc's ``ner_mentions`` when the caller has them. Its names are
    lore/parse.py's, but a title joins a name only when capitalised ("his sister Emily"
    names Emily, "Sister Agnes" names Sister Agnes), and a span is a character's by its
    own label or title, not by the chunk's PERSON votes (more false alarms on dev), or
    by being one of ``people``."""

    def __init__(
        self, doc: Doc, mentions: Collection[LoreMention] | None = None, people: Collection[str] = (), opened: str = ""
    ) -> None:
        self.doc = doc
        self.sents = list(doc.sents)
        by_name = {m.name: m for m in (ner_mentions(doc) if mentions is None else mentions)}
        hits = name_hits(doc, by_name, lowercase_titles=False, person_votes=False)
        # ``people``: names known to be people (the checker's: those facts are about),
        # whatever label NER gives a span ("Antoinette de Mauban" tagged ORG)
        self.hits: list[_Hit] = [replace(h, character=True) if h.name in people else h for h in hits]
        self.chars = sorted((h for h in self.hits if h.character), key=lambda h: h.start)
        self.genders = mention_genders(self._mentions())
        self._parsed: dict[int, Parsed] = {}
        self.quoted = quote_mask(doc.text, opened)  # ``opened``: see quote_mask
        self._scene: Scene | None = None

    def paragraph_speaker(self, pos: int) -> str | None:
        """The one attributed speaker of the paragraph holding chunk offset ``pos``
        ('"Come on," she urged. "I'll telephone my sister."': lore/coref.py ``scene``)."""
        if self._scene is None:
            self._scene = scene(self.doc, self.chars, self.antecedent)
        return self._scene.speaker(pos)

    def _mentions(self) -> list[LoreMention]:
        out: dict[str, LoreMention] = {}
        for h in self.chars:
            m = out.setdefault(h.name, LoreMention(name=h.name))
            words = [t.lower_ for t in self.sents[h.sent]] if h.sent >= 0 else []
            m.he += sum(w in HE for w in words)
            m.she += sum(w in SHE for w in words)
        return list(out.values())

    def names_in(self, i: int) -> list[_Hit]:
        return [h for h in self.hits if h.sent == i]

    def antecedent(self, pos: int, gender: str, exclude: Collection[str] = ()) -> str | None:
        """The nearest earlier character of ``gender`` within ANTECEDENT_WINDOW
        characters (one of unknown gender only if it is the nearest character of all
        and in the same or the previous sentence); None when a common noun of that
        gender comes between ("Justine ... her mother ... She died")."""
        nearest = True
        here = self._sent_at(pos)
        for h in reversed(self.chars):
            if h.start >= pos or h.name in exclude:
                continue
            if pos - h.start > ANTECEDENT_WINDOW:
                return None
            g = self.genders.get(h.name)
            if g == gender or (g is None and nearest and here - h.sent <= 1):
                # "Nora was a tall, thin woman; her hair": the woman she is is no one else
                between = PREDICATE.sub(" ", self.doc.text[h.end : pos].lower())
                nouns = MEN if gender == "m" else WOMEN
                return None if any(w.strip(".,;:!?\"'“”’‘") in nouns for w in between.split()) else h.name
            nearest = False
        return None

    def _sent_at(self, pos: int) -> int:
        return next((i for i, s in enumerate(self.sents) if s.start_char <= pos < s.end_char), -1)

    def parse(self, wanted: Iterable[int]) -> list[Parsed]:
        """The parses of sentences ``wanted`` (each parsed once per view), in order."""
        order = sorted(set(wanted))
        todo = [i for i in order if i not in self._parsed]
        if todo:
            pdocs = parse_sentences([self.sents[i].text for i in todo])
            for i, pdoc in zip(todo, pdocs):
                sent = self.sents[i]
                quoted = self.quoted[sent.start_char : sent.end_char]
                occs = [_whole(o) for o in _occurrences(pdoc, self.names_in(i), sent.start_char, quoted)]
                self._parsed[i] = Parsed(i, sent.text, sent.start_char, pdoc, occs, quoted)
        return [self._parsed[i] for i in order]

    def who(self, s: Parsed, tok: Token, exclude: Collection[str] = (), anyname: bool = False) -> str | None:
        """The character a token names: a name, or a third-person pronoun outside
        quotes resolved to its antecedent, or the one name in apposition to a noun.
        ``anyname``: a name NER took for a place counts too (as the subject of "died":
        "Flint is dead", Flint tagged GPE)."""
        o = s.occ(tok)
        if o is not None:
            return o.name if o.character or anyname else None
        named = {
            a.name for c in tok.children if c.dep_ == "appos" and (a := s.occ(c)) is not None and a.character and _set_off(c)
        }
        if len(named) == 1:  # "The sister, Catherine, was ...": the name in apposition
            return named.pop()
        if tok.lower_ in ("my", "i", "me") and s.in_quotes(tok):  # "'My cousin Jane,' said Elizabeth"
            name = speaker(s) or self.paragraph_speaker(s.base + tok.idx)
            return name if name not in exclude else None
        gender = PRONOUNS.get(tok.lower_)
        if gender is None or s.in_quotes(tok):
            return None
        return self.antecedent(s.base + tok.idx, gender, {*exclude, *bound_apart(s, tok)})


def _set_off(tok: Token) -> bool:
    """Whether the phrase ``tok`` heads follows a comma or a dash ("The sister, Catherine"),
    as an apposition does ("That woman Marner found dead" is a relative clause)."""
    first = tok.left_edge.i
    return first > 0 and tok.doc[first - 1].text in (",", "—", "--", "-")


def quote_mask(text: str, opened: str = "") -> list[bool]:
    """Per character of a chunk: inside quotation marks? As lore/coref.py's
    ``quoted_offsets`` over the whole chunk, so a sentence in the middle of a speech is
    inside it; a paragraph break ends a quote (a speech of several paragraphs opens
    each one again). ``opened``: the mark of a speech the chunk before left open
    (:func:`open_quote`): the chunk's first paragraph is that speech until it closes,
    unless it opens with a mark of its own (the next paragraph of a speech of several,
    the chunk cut between paragraphs)."""
    style = single_style(text)  # Hard Times: ‘...’; Kim: '...'
    single = style == "‘"
    out: list[bool] = []
    for n, part in enumerate(re.split(r"(\n\s*\n)", text)):
        if n == 0 and opened and part.lstrip()[:1] not in OPENING:  # a paragraph opening itself is not opened twice
            out += _marks(opened + part, None if opened in '“"' else opened)[1:]
            continue
        mask = _marks(part, style)
        close = "’" if single else "”"
        first = next((k for k, ch in enumerate(part) if ch in "“”‘’" and (single or ch in "“”")), None)
        if first is not None and part[first] == close and (not single or not part[first + 1 : first + 2].isalpha()):
            mask[:first] = [True] * first  # a chunk cut inside a speech: it opened before the chunk
        out += mask
    return _speech_first(text, out)


FIRST_PERSON = re.compile(r"\b(?:I|my|me|I’m|I'm)\b")


def _marks(part: str, style: str | None) -> list[bool]:
    return single_quoted(part, style) if style else quoted_offsets(part)


def open_quote(text: str) -> str:
    """The opening mark of a speech ``text`` leaves open at its end ("“", '"', "‘" or
    "'"), "" when none: a chunk cut inside a speech opens inside it (:func:`quote_mask`).
    A paragraph break ends a quotation."""
    last = re.split(r"\n\s*\n", text)[-1]
    if not last.strip():
        return ""
    end = len(last.rstrip())
    if not left_open(last, quote_mask(last), 0, end):
        return ""  # narration at the end, or a closing mark
    style = single_style(last)
    return next((ch for ch in reversed(last[:end]) if ch in ('“"' if style is None else style)), "")


def _speech_first(text: str, mask: list[bool]) -> list[bool]:
    """A chunk cut inside a speech at a sentence (its quotation marks in the chunk
    before): a first paragraph with no quotation mark that says "I" in a chunk whose
    narration never does is that speech's end."""
    end = text.find("\n\n")
    end = len(text) if end < 0 else end
    first = text[:end]
    if any(ch in first for ch in '"“”‘') or not FIRST_PERSON.search(first) or end == len(text):
        return mask
    narration = "".join(ch if not q else " " for ch, q in zip(text[end:], mask[end:]))
    if FIRST_PERSON.search(narration):
        return mask
    return [True] * end + mask[end:]


def _whole(o: Occ) -> Occ:
    """A name NER cut short ("Lucy" of "Lucy Westenra") reaches the capitalised word it
    is a compound of, which heads it in the parse."""
    root, tokens = o.root, set(o.tokens)
    while root.dep_ == "compound" and root.head.i == max(tokens) + 1 and root.head.text[:1].isupper():
        root = root.head
        tokens.add(root.i)
    return o if root is o.root else Occ(o.name, o.character, root, frozenset(tokens), o.quoted)


def speaker(s: Parsed) -> str | None:
    """The one character outside the quotes who says the sentence's speech: the
    subject of a speech verb, or a name right after or before one ('”, said Lucy')."""
    found = set()
    for o in s.occs:
        if not o.character or o.quoted:
            continue
        first, last = min(o.tokens), max(o.tokens)
        before = s.pdoc[first - 1].lower_ if first > 0 else ""
        after = s.pdoc[last + 1].lower_ if last + 1 < len(s.pdoc) else ""
        if (o.root.dep_ == "nsubj" and o.root.head.lower_ in SPEECH) or before in SPEECH or after in SPEECH:
            found.add(o.name)
    return found.pop() if len(found) == 1 else None


def question(s: Parsed) -> bool:
    return s.text.rstrip(" \"”’'\n").endswith("?")


def hedged(noun: Token) -> bool:
    """A noun an adjective makes no fact: "the possible death of Sue" (``HEDGES``)."""
    return any(c.dep_ == "amod" and c.lower_ in HEDGES for c in noun.children)


def unreal(verb: Token) -> bool:
    """A clause that states no fact: negated, modal, conditional, infinitive, "almost",
    or under a verb of belief, fear or wish ("I think he died", "was thought dead")."""
    for c in verb.children:
        if c.dep_ == "neg" or (c.dep_ == "aux" and c.lower_ in MODAL | {"to"}):
            return True
        if c.dep_ == "mark" and c.lower_ in CONDITIONAL_MARKS:
            return True
        if c.dep_ == "advmod" and c.lower_ in NEARLY | {"never"}:
            return True
        if c.dep_ == "parataxis" and unreal_word(c.lower_):
            return True  # "her previous life might, one would have thought, have killed her"
    if _future(verb):
        return True
    below = verb
    for a in verb.ancestors:
        if unreal_word(a.lower_):
            return True
        # a negation or modal of the first of two joined clauses is its own ("It's not
        # Flint's ship, and Flint is dead"); a condition covers both
        conj, below = below.dep_ == "conj", a
        if not conj and any(c.dep_ == "neg" or (c.dep_ == "aux" and c.lower_ in MODAL) for c in a.children):
            return True
        if any(c.dep_ == "mark" and c.lower_ in CONDITIONAL_MARKS for c in a.children):
            return True
        if any(
            c.dep_ == "advcl" and any(m.dep_ == "mark" and m.lower_ in ("if", "unless") for m in c.children) for c in a.children
        ):
            return True  # "if I lived, I would know ... and there had slain him": the condition heads both
    return False


def alternatives(tok: Token) -> list[Token] | None:
    """The other alternatives when ``tok`` is one of several joined by "or" or "nor"
    ("either killed outright or thoroughly disabled", "dead or a prisoner"), however the
    parse attaches the "or" (to the word, its head or a modifier of it: "outright or
    disabled"); None when it is no alternative. A sentence states none of them."""

    def joined(t: Token) -> list[Token] | None:
        if any(c.dep_ == "cc" and c.lower_ in ("or", "nor") for c in t.children):
            # the alternative is the word's conjunct, or its head's ("dead or a prisoner")
            return [c for c in t.children if c.dep_ == "conj"] or [c for c in t.head.children if c.dep_ == "conj"]
        return None

    for t in (tok, *(c for c in tok.children if c.dep_ in ("advmod", "acomp"))):
        if (found := joined(t)) is not None:
            return found
    if tok.dep_ == "conj" and (found := joined(tok.head)) is not None:
        return [tok.head, *(c for c in found if c is not tok)]
    return None


def outlived(verb: Token) -> bool:
    """A killing the victim outlives in the sentence itself: the verb, or one joined to
    it, holds a "till" clause whose subject is "he" or "she" and whose verb is no death:
    "smothered him ... and cut him up till he ceased snapping and began to whine for
    mercy", not "strangled him till he died"."""
    group = [verb, *(c for c in verb.children if c.dep_ == "conj")]
    return any(
        c.dep_ == "advcl"
        and not death_word(c.lower_)
        and any(m.dep_ == "mark" and m.lower_ in ("till", "until") for m in c.children)
        and any(n.dep_ == "nsubj" and n.lower_ in ("he", "she") for n in c.children)
        for v in group
        for c in v.children
    )


def _future(verb: Token) -> bool:
    """A time clause in the present: "when I am dead", "before he dies"."""
    if not any(c.dep_ in ("mark", "advmod") and c.lower_ in FUTURE_MARKS and c.i < verb.i for c in verb.children):
        return False
    return verb.lower_ in PRESENT or any(c.dep_ in ("aux", "auxpass") and c.lower_ in PRESENT for c in verb.children)


def bound_apart(s: Parsed, tok: Token) -> set[str]:
    """The names pronoun ``tok`` cannot be: when its clause's subject is a pronoun of its
    gender (``tok`` itself, or the "she" that binds "her"), every name the clause gives
    outside that subject ("She fixed her dark eyes on Mrs. Bird's face": neither "she"
    nor "her" is Mrs. Bird; binding theory's principle C, a name is never bound by a
    pronoun that commands it)."""
    verb = clause(tok)
    subject = next((c for c in verb.children if c.dep_ in ("nsubj", "nsubjpass")), None)
    if subject is None or PRONOUNS.get(subject.lower_) != PRONOUNS.get(tok.lower_):
        return set()
    inside = {t.i for t in verb.subtree} - {t.i for t in subject.subtree}
    return {o.name for o in s.occs if o.root.i in inside}


def clause(tok: Token) -> Token:
    """The verb heading the clause of a noun or adjective token."""
    while tok.dep_ not in ("ROOT", "conj", "ccomp", "advcl", "relcl", "xcomp", "acl", "pcomp") and tok.head.i != tok.i:
        tok = tok.head
    return tok
