"""Who "my" and "I" are inside a scene's dialogue, for the relation reader
(lore/parse.py): co-reference by the conventions of printed dialogue.

- One paragraph is one speaker's: a speech attributed once in a paragraph ('"...,"
  said Thaddeus. "My father was Major Sholto."') gives every quotation of that
  paragraph its speaker. The attribution is a character named next to a verb of
  speech outside the quotes ("said Nancy", "Nancy replied"), or "he"/"she" next to one
  ("he said"), resolved to the nearest earlier character of that gender, or a name the
  speaker gives as her own ("I am Mary Lennox", "My name is ..."). A paragraph
  with two attributed speakers, or none, gives none.
- The quotation marks are the chunk's: a sentence in the middle of a speech is inside
  it, though it opens no quotation mark itself. A paragraph break ends a quotation;
  dialogue printed in single quotes (‘...’) counts when the chunk has no double ones.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence, Set
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from automuse_rag.lore.family import SEX, couple
from automuse_rag.lore.given_names import given_gender
from automuse_rag.lore.names import CIVIL, RANKS, TITLES, parse_name
from automuse_rag.lore.relation_words import SPEECH

if TYPE_CHECKING:
    from spacy.tokens import Doc

PARAGRAPH = re.compile(r"\n\s*\n")
SPEAKER_PRONOUNS = {"he": "m", "she": "f"}
SELF_NAMING = re.compile(r"\b(?:I am|I[’']m|[Mm]y name is)\s+$")


class _Named(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int: ...


@dataclass
class Scene:
    """A chunk's dialogue: per character, inside quotes?; per paragraph, its speaker."""

    quoted: list[bool]
    paragraphs: list[tuple[int, int, str | None]]  # (start, end, speaker)

    def inside(self, pos: int) -> bool:
        return 0 <= pos < len(self.quoted) and self.quoted[pos]

    def speaker(self, pos: int) -> str | None:
        """The speaker of the paragraph holding chunk offset ``pos``."""
        for start, end, who in self.paragraphs:
            if start <= pos < end:
                return who
        return None


def quote_mask(text: str) -> list[bool]:
    """Per character of a chunk: inside quotation marks? A paragraph break ends a
    quotation; single quotes count when the chunk has no double ones."""
    single = single_style(text)
    out: list[bool] = []
    pos = 0
    for m in PARAGRAPH.finditer(text):
        part = text[pos : m.start()]
        out += single_quoted(part, single) if single else quoted_offsets(part)
        out += [False] * (m.end() - m.start())
        pos = m.end()
    part = text[pos:]
    return out + (single_quoted(part, single) if single else quoted_offsets(part))


def quoted_offsets(text: str) -> list[bool]:
    """Per character of ``text``: inside quotation marks? (straight quotes toggle)."""
    inside, out = False, []
    for ch in text:
        if ch == "“":
            inside = True
        elif ch == "”":
            out.append(True)
            inside = False
            continue
        elif ch == '"':
            inside = not inside
        out.append(inside)
    return out


STRAIGHT_OPEN = re.compile(r"(?:^|\n)\s*'[A-Z]")


def single_style(text: str) -> str | None:
    """How a chunk with no double quotation marks quotes speech: "‘" (curly single
    quotes, Hard Times), "'" (straight ones opening a paragraph, Kim: "'She died, they
    tell me.'"), or None (double quotes, or no speech)."""
    if "“" in text or '"' in text:
        return None
    if "‘" in text:
        return "‘"
    return "'" if STRAIGHT_OPEN.search(text) else None


def single_quoted(text: str, style: str = "‘") -> list[bool]:
    """Dialogue in single quotes: ‘ opens, ’ closes unless a letter follows (an
    apostrophe). Straight ones (``style`` "'"): one opens after a space or a paragraph's
    start before a letter, and closes after a non-space unless a letter follows."""
    close = "’" if style == "‘" else "'"
    inside, out = False, []
    for k, ch in enumerate(text):
        nxt, prev = text[k + 1 : k + 2], text[k - 1 : k] if k else ""
        if ch == style and (style == "‘" or (not inside and not prev.isalnum() and nxt.isalpha())):
            inside = True
        elif ch == close and inside and not nxt.isalpha() and not prev.isspace():
            out.append(True)
            inside = False
            continue
        out.append(inside)
    return out


def scene(doc: Doc, hits: Sequence[_Named], antecedent: Callable[[int, str, Set[str]], str | None]) -> Scene:
    """The chunk's quotation mask and each paragraph's one attributed speaker.
    ``hits``: the chunk's character names (chunk offsets); ``antecedent(pos, gender,
    exclude)``: the character an earlier "he"/"she" refers to, other than ``exclude``."""
    text = doc.text
    quoted = quote_mask(text)
    bounds, pos = [], 0
    for m in PARAGRAPH.finditer(text):
        bounds.append((pos, m.start()))
        pos = m.end()
    bounds.append((pos, len(text)))
    found: dict[int, set[str]] = {}
    starts = {h.start: h.name for h in hits}
    ends = {h.end: h.name for h in hits}

    def para(at: int) -> int:
        return next((k for k, (s, e) in enumerate(bounds) if s <= at < e), -1)

    for tok in doc:
        if tok.lower_ not in SPEECH or quoted[tok.idx]:
            continue
        who: str | None = None
        nxt = doc[tok.i + 1] if tok.i + 1 < len(doc) else None
        prev = doc[tok.i - 1] if tok.i > 0 else None
        if nxt is not None and nxt.idx in starts:
            who = starts[nxt.idx]
        elif prev is not None and prev.idx + len(prev.text) in ends:
            who = ends[prev.idx + len(prev.text)]
        else:
            k = para(tok.idx)
            s, e = bounds[k]
            # a name only inside the paragraph's quotes is spoken of or to, not the speaker
            # ("she said" after "Mr. Holmes" in her quotes is not Holmes)
            words = {w for h in hits if s <= h.start < e and quoted[h.start] for w in parse_name(h.name).words}
            inside = {h.name for h in hits if set(parse_name(h.name).words) & words}
            outside = {h.name for h in hits if s <= h.start < e and not quoted[h.start]}
            for t in (nxt, prev):
                if t is not None and t.lower_ in SPEAKER_PRONOUNS and not quoted[t.idx]:
                    who = antecedent(t.idx, SPEAKER_PRONOUNS[t.lower_], inside - outside)
                    break
        if who is not None:
            found.setdefault(para(tok.idx), set()).add(who)
    for h in hits:  # "I am Mary Lennox": a speaker naming herself
        if quoted[h.start] and SELF_NAMING.search(text, max(0, h.start - 16), h.start):
            found.setdefault(para(h.start), set()).add(h.name)
    paragraphs: list[tuple[int, int, str | None]] = []
    for k, (s, e) in enumerate(bounds):
        names = found.get(k, set())
        who = next(iter(names)) if len(names) == 1 else None
        if not names and paragraphs and text[s:e].lstrip()[:1] in OPENING and left_open(text, quoted, *bounds[k - 1]):
            who = paragraphs[-1][2]  # the next paragraph of a speech of several: its speaker's
        paragraphs.append((s, e, who))
    return Scene(quoted, paragraphs)


OPENING = "“\"‘'"


def left_open(text: str, quoted: list[bool], start: int, end: int) -> bool:
    """Whether the paragraph ``text[start:end]`` ends inside a speech: quoted at its
    last character, which is no closing mark."""
    last = start + len(text[start:end].rstrip())
    return last > start and quoted[last - 1] and text[last - 1] not in "”’\"'"


KIN_WINDOW = (2, 1)  # sentences before and after a kin noun where its referent may be named


class _Hit(_Named, Protocol):
    @property
    def sent(self) -> int: ...


def kin_referent(role: str, owner: str, sent: int, hits: Sequence[_Hit], genders: Mapping[str, str | None]) -> str | None:
    """Whom an unnamed kin noun refers to: "her mother" of Miss Welland, Mrs. Welland
    named in the sentence or the two before it (or the one after). The one character
    there of the kin word's sex who shares the owner's surname and is not a form of
    the owner's name; None when there are none or several."""
    sex = SEX.get(role)  # kin who usually share the possessor's surname, and their sex
    family = _surname(owner, hits)
    if sex is None or family is None or parse_name(_full_form(owner, hits)).words == (family,) and not parse_name(owner).title:
        return None  # a bare surname may be any of the family
    whole = _full_form(owner, hits)
    found = set()
    for h in hits:
        if not sent - KIN_WINDOW[0] <= h.sent <= sent + KIN_WINDOW[1] or h.name == owner:
            continue
        if _may_be(whole, _full_form(h.name, hits), genders) or _surname(h.name, hits) != family:
            continue
        p = parse_name(h.name)
        if not p.title and not parse_name(_full_form(h.name, hits)).is_full:
            continue  # a bare surname may be any of the family
        spouse, married = role in ("husband", "wife"), couple(owner, h.name)
        if (married and not spouse) or (spouse and not married and _surname_only(h.name)):
            continue  # "Mr. X" and "Mrs. X" are husband and wife; "Godfrey's wife" may not be "Mrs. Cass"
        if _gender(_full_form(h.name, hits), genders) == sex:
            found.add(h.name)
    return found.pop() if len(found) == 1 else None


def kin_candidates(role: str, owner: str, sent: int, hits: Sequence[_Hit], genders: Mapping[str, str | None]) -> tuple[str, ...]:
    """When :func:`kin_referent` cannot tell (the owner's surname is not in the chunk):
    every character named in the same sentences around the kin noun, other than the
    owner's name, not known to be of the other sex. The story decides among them when
    it is read (lore/family.py)."""
    sex = SEX.get(role)  # kin who usually share the possessor's surname, and their sex
    if sex is None:
        return ()
    found = set()
    for h in hits:
        if not sent - KIN_WINDOW[0] <= h.sent <= sent + KIN_WINDOW[1] or h.name == owner:
            continue
        if _gender(_full_form(h.name, hits), genders) in (sex, None):
            found.add(h.name)
    return tuple(sorted(found))


def _full_form(name: str, hits: Sequence[_Hit]) -> str:
    """A given name alone as the one full name of the chunk it begins ("Henry" ->
    "Henry van der Luyden"); else the name."""
    p = parse_name(name)
    if p.is_full or p.title:
        return name
    fulls = {h.name for h in hits if parse_name(h.name).is_full and parse_name(h.name).first == p.first}
    return fulls.pop() if len(fulls) == 1 else name


def _surname_only(name: str) -> bool:
    """ "Mrs. Cass", "Mrs. van der Luyden": a civil title and a surname, no given name."""
    p = parse_name(name)
    return p.title in CIVIL and (len(p.words) == 1 or not p.words[0][:1].isupper())


def _may_be(a: str, b: str, genders: Mapping[str, str | None]) -> bool:
    """Two names of one family that may be one person: the same given name, the same
    title, a bare word, or a civil title of the other's sex ("Mr. Tilney" may be Henry
    Tilney; "Mrs. Welland" is not Miss Welland, "General Tilney" not Henry Tilney)."""
    pa, pb = parse_name(a), parse_name(b)
    ga, gb = _gender(a, genders), _gender(b, genders)
    if ga and gb and ga != gb:
        return False
    if pa.is_full and pb.is_full:
        return pa.first == pb.first
    if not pa.is_full and not pb.is_full:
        return pa.title == pb.title or pa.title is None or pb.title is None
    short, full = (pa, b) if not pa.is_full else (pb, a)
    if short.title is None:
        return short.first in parse_name(full).words
    return short.title in CIVIL


def _surname(name: str, hits: Sequence[_Hit]) -> str | None:
    """A name's surname: the last word of a full or titled name; a given name alone
    takes the surname of the one full name of the chunk it begins."""
    p = parse_name(name)
    if p.is_full or p.title:
        return p.last
    named = [parse_name(h.name) for h in hits]
    if any(q.last == p.first and (q.is_full or q.title) for q in named):
        return p.first  # a bare surname ("Bounderby")
    fulls = {q.last for q in named if q.is_full and q.first == p.first}
    return fulls.pop() if len(fulls) == 1 else None


def _gender(name: str, genders: Mapping[str, str | None]) -> str | None:
    """A title's sex, else a full name's given name's ("John" is a man's whatever the
    pronouns around it), else the pronouns'."""
    p = parse_name(name)
    if p.title and (g := TITLES[p.title][1] or ("m" if p.title in RANKS else None)):
        return g
    return (given_gender(p.first) if p.is_full and not p.title else None) or genders.get(name)
