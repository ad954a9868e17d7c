"""The narrator's names: a first-person narrator is named only to his face.

A first-person novel may never write its narrator's full name. Gatsby's narrator is
"Nick" ("Don't believe everything you hear, Nick," he advised me) and "Mr. Carraway"
("This is Mr. Carraway," I said); Frankenstein's is "Victor" to his family and
"Frankenstein" to Clerval ("My dear Frankenstein," exclaimed Henry, when he perceived
me weep). The text never joins the two, so the other rules keep them apart.

Two steps, like the letters rule (lore/letters.py):

1. :func:`narrator_counts` reads one chunk. A name is spoken *to the narrator* when a
   quotation addresses it (after the quotation's start, a comma, "!", "?", ";", a dash
   or "dear"; before a comma, a stop or the quotation's end) and the sentence around
   the quotation, outside it, has "me" and the narrator is not the speaker (", he
   advised me"; not "said I" or "I cried:", the narrator speaking to someone else).
   A quotation ending with a stop ends its sentence; the narration before it counts
   back to the previous stop, quotation mark or blank line. Or the narrator names himself:
   "This is Mr. Carraway," I said. The counts are stored on the chunk's mentions
   (``LoreMention.to_narrator``).
2. :func:`narrator_step` runs in the resolver. Names spoken to the narrator share a
   component (resolve.py: :data:`NARRATOR_KEY`). Of those not already part of a full
   name, when exactly one cluster is a bare given name ("Victor", "Nick") and exactly
   one is a surname form (a bare surname of the story or "Mr. Carraway"), they are the
   narrator's two names and merge, unless their titles or genders disagree or a
   sentence shows them as two people. Several of either (nested narrators: Walton,
   Victor and the creature in Frankenstein) and nothing merges.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping

from automuse_rag.lore.draft import Draft
from automuse_rag.lore.given_names import in_census
from automuse_rag.lore.merge_steps import compatible, merge
from automuse_rag.lore.names import CIVIL, FIRSTNAME_TITLES, parse_name
from automuse_rag.lore.nicknames import is_given_name
from automuse_rag.lore.rules import Resolver
from automuse_rag.lore.stats import name_gender
from automuse_rag.lore.types import LoreMention

QUOTE = re.compile(r"“(?P<curly>[^“”]{1,600})”|\"(?P<straight>[^\"\n]{1,600})\"")
# The narration around a quotation, up to the sentence's edge: a stop, a quotation
# mark or a blank line.
_AFTER = re.compile(r"[^“”\".!?]*?(?=[.!?“”\"]|\n\s*\n|$)")
_BEFORE_EDGE = re.compile(r"[.!?“”\"]|\n\s*\n")
_ME = re.compile(r"\bme\b")
_NAME = r"(?:[A-Z][a-z]{0,3}\.?\s+)?[A-Z][\w’'-]+(?:\s+[A-Z][\w’'-]+)*"
_SELF = re.compile(rf"\s*(?:This is|I’m|I'm|I am|My name is|It’s|It's)\s+(?P<name>{_NAME})[,.!]?\s*")
# The narrator is the speaker: "said I", "I said" right after the quotation, or "I cried:" before it.
_SAID_BY_ME = re.compile(r"\s*,?\s*(?:I\s+[a-z]+|[a-z]+\s+I)\b")
_I_SAY = re.compile(r"\bI\s+[a-z]+(?:\s+[a-z]+)?\s*[,:]?\s*$")
MIN_WORDS = 3  # a quotation of the name alone ("Jay Gatsby") is not speaking to anyone


def _vocative(inner: str, name: str) -> bool:
    return bool(
        re.search(
            rf"(?:^\s*|[,!?;—]\s*|\b[Dd]ear(?:est)?\s+)(?:[Mm]y\s+dear(?:est)?\s+)?{re.escape(name)}(?=\s*[,.!?;—]|\s*$)",
            inner,
        )
    )


def narrator_counts(text: str, names: set[str]) -> Counter[str]:
    """How often ``text`` speaks each of ``names`` to its first-person narrator."""
    out: Counter[str] = Counter()
    for q in QUOTE.finditer(text):
        inner = q.group("curly") or q.group("straight") or ""
        if len(inner.split()) < MIN_WORDS and not _SELF.fullmatch(inner):
            continue
        # The quotation ends its sentence unless it ends with a comma (or a dash).
        tail = _AFTER.match(text, q.end())
        after = "" if re.search(r"[.!?]\s*$", inner) or tail is None else tail.group(0)
        head = text[max(0, q.start() - 300) : q.start()]
        cut = list(_BEFORE_EDGE.finditer(head))
        before = head[cut[-1].end() :] if cut else head
        around = before + " " + after
        said_by_me = bool(_SAID_BY_ME.match(text, q.end()) or _I_SAY.search(before))
        self_named = _SELF.fullmatch(inner)
        if self_named and said_by_me and self_named.group("name") in names:
            out[self_named.group("name")] += 1
            continue
        if said_by_me or not _ME.search(around):
            continue
        for n in names:
            if _vocative(inner, n):
                out[n] += 1
    return out


def add_narrator_marks(text: str, found: Mapping[str, LoreMention]) -> None:
    """Record on each mention how often the chunk speaks the name to its narrator."""
    for name, n in narrator_counts(text, set(found)).items():
        found[name].to_narrator = n


# ---------------------------------------------------------------- resolution


def _surname_words(res: Resolver) -> set[str]:
    """Words the component uses as surnames: the last word of a full name, or the
    word after a civil title that does not take first names ("Mr. Carraway")."""
    out: set[str] = set()
    for n in res.stats:
        p = parse_name(n)
        if p.is_full:
            out.add(p.last)
        elif p.title in CIVIL and p.title not in FIRSTNAME_TITLES and p.title != "miss":
            out.add(p.first)
    return out


def _form(cl: Draft, surnames: set[str]) -> str:
    """ "given" (bare words only, none a surname), "surname" (a titled or bare surname)
    or "" (anything else, e.g. "Lady Catherine")."""
    parsed = [parse_name(m) for m in cl.members]
    if any(p.is_full for p in parsed):
        return ""
    if all(p.title is None for p in parsed):
        words = {p.first for p in parsed}
        if not words & surnames:
            return "given"
        return "surname" if words <= surnames else ""
    # "Mr. Carraway"; "Miss X" only when X is a surname of the story ("Miss Elizabeth" is not)
    if all(
        p.title is None or (p.title in CIVIL and p.title not in FIRSTNAME_TITLES and (p.title != "miss" or p.first in surnames))
        for p in parsed
    ):
        return "surname"
    return ""


def narrator_step(res: Resolver) -> None:
    """Merge the narrator's given name and surname (see the module docstring)."""
    spoken = sorted(n for n in res.of if res.stats[n].narrator > 0)
    clusters: list[Draft] = []
    for n in spoken:
        cl = res.of[n]
        if cl.kind == "character" and cl.members and not cl.has_full and all(cl is not c for c in clusters):
            clusters.append(cl)
    surnames = _surname_words(res)
    given = [c for c in clusters if _form(c, surnames) == "given"]
    family = [c for c in clusters if _form(c, surnames) == "surname"]
    if len(given) == 2 and not family and not any(res.of[n].has_full for n in spoken):
        # No full name or title says which is the surname ("Victor", "Frankenstein"): the
        # one word no given-name list knows, when the other is a known given name (and
        # the narrator has no full name among the names spoken to them: Jim Hawkins's
        # "Bill" and "Barbecue" are two other men).
        unknown = [c for c in given if not any(is_given_name(m) or in_census(m) for m in c.members)]
        if len(unknown) == 1:
            family, given = unknown, [c for c in given if c is not unknown[0]]
    if len(given) != 1 or len(family) != 1:
        return
    g, s = given[0], family[0]
    own = {name_gender(res.stats[m]) for m in g.members} - {None}
    if not compatible(g, s) or (s.gender and own and own != {s.gender}) or res.distinct.any(g.members, s.members):
        return
    merge(res, g, s)
