"""Letters: the person a letter is addressed to, named two ways.

An epistolary chapter opens with a heading that names its addressee by title and
surname ("To Mrs. Saville, England.") and then speaks to her by her first name
("There, Margaret, the sun is for ever visible"). The text never writes "Margaret
Saville"; the heading and the greeting are the only evidence that they are one
person. :func:`letter_aliases` finds it within one chunk and records the first name
as an alias of the addressee, which the resolver treats like a model's alias (with
its chunk: nothing changes before the letter is read).

Kept narrow on purpose: the heading must be a line of its own, the addressee a
titled name NER found in the chunk, and the letter (up to the next heading) must
address exactly one bare first name outside quotation marks: "'Victor,' said
Elizabeth", quoted inside a letter, is someone else speaking.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from automuse_rag.lore.coref import quoted_offsets
from automuse_rag.lore.names import clean_name, parse_name
from automuse_rag.lore.types import LoreMention

HEADING = re.compile(
    r"^[ \t_*]*To\s+(?P<name>(?:Mrs|Mr|Miss|Ms|Lady|Sir|Dr)\.?\s+[A-Z][\w'’-]+(?:\s+[A-Z][\w'’-]+)?)"
    r"\s*(?:,[^\n]{0,60})?[._*]*[ \t]*$",
    re.MULTILINE,
)
# A bare word spoken to: ", Margaret," "dear Margaret." "! Margaret," "excellent Margaret."
VOCATIVE = re.compile(r"(?:[,!?;]|\b[Dd]ear(?:est)?|\bexcellent)\s+(?P<word>[A-Z][a-z]+)(?=\s*[,.!;:?—])")


def letter_aliases(text: str, found: Mapping[str, LoreMention]) -> dict[str, str]:
    """Addressee name -> the first name the letter calls them by, for each letter
    heading in ``text`` whose addressee and greeting are both among ``found`` (the
    chunk's name mentions)."""
    heads = list(HEADING.finditer(text))
    if not heads:
        return {}
    quoted = quoted_offsets(text)
    out: dict[str, str] = {}
    for k, head in enumerate(heads):
        addressee = clean_name(head.group("name"))
        if addressee is None or addressee not in found:
            continue
        end = heads[k + 1].start() if k + 1 < len(heads) else len(text)
        words = {
            m.group("word")
            for m in VOCATIVE.finditer(text, head.end(), end)
            if not quoted[m.start("word")] and m.group("word") in found
        }
        words = {w for w in words if parse_name(w).title is None and w not in parse_name(addressee).words}
        if len(words) == 1:
            out[addressee] = words.pop()
    return out


def add_letter_aliases(text: str, found: Mapping[str, LoreMention]) -> None:
    """Record each letter's greeting name as an alias of its addressee's mention."""
    for addressee, first in letter_aliases(text, found).items():
        m = found[addressee]
        m.aliases = sorted(set(m.aliases) | {first})
