"""Offline descriptions: which sentence describes a name (per chunk, at ingest) and
which descriptions a lore card shows as of chunk ``i`` (pure, at read time).

Kinds of description, best first (``DESC_SCORE``):

- ``model``: the model's one line about the entity;
- ``appos``: the name heads an appositive or relative clause ("Captain Reddick, who
  had kept the light at Kestrel Point for thirty-one years"; "Tregarth House, the old
  empty manor above the harbour") or is the appositive of a common noun ("the
  harbourmaster, Walter Pennock");
- ``copula``: the name is the subject of "be"/"become" with a complement ("Edith was the
  schoolmistress at Port Carrow");
- ``pronoun``: "He was nineteen, broad in the shoulder...", "She had arrived in Port
  Carrow three weeks before..." right after a sentence naming her (the pronoun's
  antecedent, matched by gender);
- ``backstory``: the name is the subject of a past perfect ("Arthur Blackwood had come
  down in the spring as agent for a syndicate"), the way a novel introduces someone;
- ``subject``: the name is the subject of the sentence (in narration);
- ``mention``: the sentence names it and no other name is its subject, or it is
  named inside quotation marks (dialogue claims and addresses, not descriptions).

A sentence whose subject is another name is about someone else and is never used.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from automuse_rag.lore.types import MAX_DESCRIPTION
from automuse_rag.text import clip

if TYPE_CHECKING:
    from spacy.tokens import Token

DESC_SCORE: dict[str, int] = {
    "model": 4,
    "appos": 4,
    "copula": 4,
    "pronoun": 3,
    "backstory": 3,
    "subject": 2,
    "mention": 1,
    "": 1,
}
DESCRIBING = 3  # kinds scoring at least this describe the entity (not just name it)
STATES = {"model", "copula", "pronoun"}  # kinds that can tell a later change of state

BE = {
    "be",
    "is",
    "was",
    "were",
    "are",
    "am",
    "been",
    "being",
    "'s",
    "’s",
    "became",
    "become",
    "becomes",
    "remained",
    "seemed",
    "looked",
}
SUBJ = {"nsubj", "nsubjpass"}
RELATIVE = {"who", "whom", "whose", "which", "that"}


# How a sentence of prose ends (before quotes and brackets: the sentencizer leaves the
# next speech's opening quote on the sentence before it); a line without
# one is a heading ("CHAPTER IV. Kestrel Point") or a title, never a description.
PROSE_ENDS = (".", "!", "?", "…", ":", ";", "—", "-")


def is_prose(text: str) -> bool:
    return text.rstrip(" \t\n\"“”‘’')]").endswith(PROSE_ENDS)


def score(kind: str) -> int:
    return DESC_SCORE.get(kind, 1)


def occurrence_kind(root: Token, in_name: Callable[[Token], bool], other_subject: bool, quoted: bool = False) -> str | None:
    """How the sentence speaks of the name whose span has head ``root`` (a parsed
    token). ``in_name(token)`` tells whether a token belongs to some name;
    ``other_subject``: another name is the subject of the sentence's main verb;
    ``quoted``: the name is inside quotation marks (an appositive there is usually a
    vocative: "Thomas, you old fool"). None if the sentence is about someone else."""
    doc = root.doc
    question = doc.text.rstrip(" \"”’'").endswith("?")
    cleft = root.dep_ == "attr" and any(c.dep_ in ("nsubj", "expl") and c.lower_ == "it" for c in root.head.children)
    if not question and not cleft and not quoted:
        for child in root.children:
            if child.i < root.i:
                continue
            if child.dep_ == "appos" and not in_name(child):
                return "appos"
            if child.dep_ == "relcl" and any(g.lower_ in RELATIVE for g in child.children):
                return "appos"
        head = root.head
        if (
            root.dep_ == "appos"
            and head.i < root.i
            and not in_name(head)
            and any(c.dep_ in ("det", "poss") for c in head.children)
        ):
            return "appos"  # "the harbourmaster, Walter Pennock"
    if root.dep_ in SUBJ:
        head = root.head
        if quoted:  # in dialogue: a character's claim or address, not the narrator's description
            return "mention"
        if head.lower_ in BE and any(c.dep_ in ("attr", "acomp") and not in_name(c) for c in head.children):
            return "copula"
        if any(c.dep_ == "aux" and c.lower_ == "had" for c in head.children) and head.lower_ not in BE:
            return "backstory"
        if head.dep_ == "ROOT" or not other_subject:
            return "subject"
    return None if other_subject else "mention"


def line_at(text: str, start: int) -> str:
    """The sentence as one line, at most MAX_DESCRIPTION characters; a long sentence
    is cut to start at the name (offset ``start``) rather than before it."""
    line = " ".join(text.split())
    if len(line) <= MAX_DESCRIPTION:
        return line
    head = " ".join(text[:start].split())
    if start > 0 and len(line) - len(head) > 60:
        line = line[len(head) :].lstrip()
        line = line[:1].upper() + line[1:]
    if len(line) <= MAX_DESCRIPTION:
        return line
    return clip(line, MAX_DESCRIPTION)


def select_descriptions(
    descriptions: Sequence[tuple[int, str]],
    kinds: Mapping[int, str],
    at: int | None = None,
    limit: int = 2,
) -> list[str]:
    """The descriptions a card shows as of chunk ``at`` (all if None): the
    introduction (the earliest describing sentence: appositive, copula, pronoun,
    backstory or model), then the latest copula, pronoun or model sentence after it
    (a change of state). With no describing sentence: the earliest and the latest
    sentences with the entity as subject (else plain mentions; also descriptions of
    unknown kind, as older stores have). Pure: a function of (chunk, text, kind)
    triples."""
    if limit <= 0:
        return []
    kind_of, score_of = kinds.get, DESC_SCORE.get  # score(), inlined: cards ask this for every description
    known = [(c, d, score_of(kind_of(c, ""), 1)) for c, d in descriptions if d and (at is None or c <= at)]
    if not known:
        return []
    floor = min(DESCRIBING, max(s for _, _, s in known))
    # one pass each, no sort: a main character's card reads hundreds of sentences
    first = min((c, d) for c, d, s in known if s >= floor)
    if limit == 1:
        return [first[1]]
    # The latest change: a state (copula, pronoun, model) after a describing intro;
    # with no describing sentence at all, simply the latest one.
    any_kind = floor < DESCRIBING
    later = max(
        ((c, d) for c, d, s in known if s >= floor and d != first[1] and (any_kind or kind_of(c, "") in STATES)), default=None
    )
    return [first[1]] if later is None else [first[1], later[1]]
