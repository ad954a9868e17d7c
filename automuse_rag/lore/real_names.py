"""Real names: a sentence that gives someone's other name.

"James Gatz—that was really, or at least legally, his name." The Great Gatsby says
once, in passing, that Jay Gatsby was born James Gatz; the two names share no word,
so no other rule can join them. :func:`real_name_aliases` finds such statements in
one chunk:

- "X—that was really ... his name", "X was his real name";
- "his real (true, legal, proper, own) name was X", "whose real name was X".

Whose name it is: "his"/"her" refers to the last person named before the statement
(another name, of a compatible gender), looked up first in the chunk, then in the
end of the previous chunk (``previous``), since a statement may open a chunk, as
Gatsby's does. The name is then recorded as an alias of that person's mention, which
the resolver treats like a model's alias (with its chunk: nothing changes before the
statement is read). Only names NER found in the chunk count, on both sides.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from automuse_rag.lore.names import PERSON_LABELS, clean_name, looks_like_place, parse_name
from automuse_rag.lore.parse import mention_genders
from automuse_rag.lore.types import LoreMention

_NAME = r"(?:[A-Z][a-z]{0,3}\.\s+)?[A-Z][\w’'-]+(?:\s+[A-Z][\w’'-]+){0,3}"
_KIND = r"(?:real|true|legal|proper|own|original|Christian|baptismal)"
STATEMENTS = (
    re.compile(rf"(?P<name>{_NAME})\s*[—–-]+\s*that was\b[^.;!?]{{0,60}}?\b(?P<pron>his|her) name\b"),
    re.compile(rf"(?P<name>{_NAME}),? (?:was|is) (?:really )?(?P<pron>his|her) {_KIND} name\b"),
    re.compile(rf"\b(?P<pron>[Hh]is|[Hh]er|whose) {_KIND} name (?:was|is) (?P<name>{_NAME})"),
)
PREVIOUS_CHARS = 2000  # how far back into the previous chunk "his" may look


def _is_person(m: LoreMention) -> bool:
    return any(k in PERSON_LABELS for k in m.labels) and not looks_like_place(m.name)


def _last_named(text: str, people: Mapping[str, LoreMention]) -> str | None:
    """The person of ``people`` named last in ``text``: by the whole name or, for a
    full name, by its surname ("Gatsby’s notoriety" names Jay Gatsby)."""
    best: tuple[int, int, str] | None = None
    for name in people:
        forms = {name}
        p = parse_name(name)
        if p.is_full:
            forms.add(p.last)
        for form in forms:
            hits = list(re.finditer(rf"(?<![\w’']){re.escape(form)}(?![\w])", text))
            if hits:
                cand = (hits[-1].end(), len(name), name)
                best = cand if best is None or cand > best else best
    return best[2] if best else None


def real_name_aliases(text: str, found: Mapping[str, LoreMention], previous: str = "") -> dict[str, str]:
    """Person name -> the other name a statement in ``text`` gives them."""
    out: dict[str, str] = {}
    for pattern in STATEMENTS:
        for st in pattern.finditer(text):
            name = clean_name(st.group("name"))
            if name is None or name not in found or not _is_person(found[name]):
                continue
            want = {"his": "m", "her": "f"}.get(st.group("pron").lower())
            words = set(parse_name(name).words)
            genders = mention_genders(found.values())
            people = {
                n: m
                for n, m in found.items()
                if _is_person(m) and not words & set(parse_name(n).words) and (want is None or genders[n] in (want, None))
            }
            who = _last_named(text[: st.start()], people) or _last_named(previous[-PREVIOUS_CHARS:], people)
            if who is not None:
                out.setdefault(who, name)
    return out


def add_real_names(text: str, found: Mapping[str, LoreMention], previous: str = "") -> None:
    """Record each statement's name as an alias of the person it names."""
    for who, name in real_name_aliases(text, found, previous).items():
        m = found[who]
        m.aliases = sorted(set(m.aliases) | {name})
