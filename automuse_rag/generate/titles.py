"""Titles for a plan built without the model: a key noun phrase of the premise's
sentences ("The Great Tower Clock", "A Wary Schoolboy"), found with spaCy's noun chunks
(``en_core_web_sm`` with its tagger and parser, loaded on first use).

Among a passage's noun chunks the one with the most content words wins (adjectives
and compounds help, a bare name or a pronoun does not, earlier is better), and a
chapter's title never reuses an earlier chapter's head noun when another is left.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from automuse_rag.lore.ner import load_english

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Span, Token

MAX_WORDS = 5
KEEP_DETERMINERS = {"the", "a", "an", "every"}
THE_FOR = {"my", "your", "his", "her", "its", "our", "their", "this", "that", "these", "those"}
GENERIC = {
    "one", "way", "time", "thing", "things", "lot", "part", "kind", "sort", "day", "days", "year", "years",
    "life", "people", "others", "everything", "something", "nothing", "anything", "someone", "everyone", "place",
    "end", "beginning", "rest", "help", "work", "feelings", "course", "side", "sides", "while", "moment", "weeks",
}  # fmt: skip
SMALL_WORDS = {"a", "an", "the", "of", "and", "or", "in", "on", "at", "to", "for", "by", "with", "from", "into"}

_NLP: Language | None = None
_LOCK = threading.Lock()


def get_chunker() -> Language:
    """spaCy ``en_core_web_sm`` with the tagger and parser noun chunks need (loaded once)."""
    global _NLP
    with _LOCK:
        if _NLP is None:
            _NLP = load_english(["ner", "lemmatizer", "textcat", "senter"])
        return _NLP


@dataclass(frozen=True)
class Phrase:
    score: float
    head: str  # the head noun, lower case
    title: str


def title_case(text: str) -> str:
    """Each word (and each part of a hyphenated one) capitalised, its first letter only
    ("town's" -> "Town's"); small words lower case after the first."""
    words = text.split()
    return " ".join(
        w.lower() if i and w.lower() in SMALL_WORDS else "-".join(p[:1].upper() + p[1:] for p in w.split("-"))
        for i, w in enumerate(words)
    ).strip()


def _words(tokens: list[Token]) -> list[list[Token]]:
    """Tokens grouped into the words they were written as ("18-year-old", "town's")."""
    words: list[list[Token]] = []
    for i, token in enumerate(tokens):
        if i and not tokens[i - 1].whitespace_:
            words[-1].append(token)
        else:
            words.append([token])
    return words


def _phrase(chunk: Span, position: int) -> Phrase | None:
    tokens: list[Token] = list(chunk)
    prefix = ""
    while tokens and (tokens[0].is_punct or tokens[0].pos_ in ("DET", "PRON") and tokens[0].lower_ not in KEEP_DETERMINERS):
        if len(tokens) > 1 and tokens[1].lower_ == "own":  # "their own home" stays whole
            break
        prefix = "The" if tokens[0].lower_ in THE_FOR else prefix
        tokens = tokens[1:]
    while tokens and tokens[-1].is_punct:
        tokens = tokens[:-1]
    if chunk.root.pos_ == "PRON" or not tokens:
        return None
    words = _words(tokens)
    if len(words) > MAX_WORDS:  # "the town's elderly water bailiff": from the possession on
        owned = [i for i, word in enumerate(words) if any(t.tag_ == "POS" for t in word)]
        if owned:
            words, prefix = words[owned[-1] + 1 :], "The"
        tokens = [t for word in words[-(MAX_WORDS - bool(prefix)) :] for t in word]
    content = [t for t in tokens if t.pos_ in ("NOUN", "PROPN", "ADJ", "NUM")]
    if not content or (len(content) == 1 and chunk.root.lower_ in GENERIC):
        return None
    text = "".join(t.text_with_ws for t in tokens).strip()
    if prefix and tokens[0].lower_ not in KEEP_DETERMINERS:
        text = f"{prefix} {text}"
    score = min(len(content), 3) + 0.5 * any(t.pos_ == "ADJ" or t.dep_ == "compound" for t in tokens)
    score -= 1.5 * all(t.pos_ == "PROPN" for t in content)  # a bare name: the cast has it already
    score -= 1.5 * (chunk.root.lower_ in GENERIC)  # "the next few days"
    score += 0.25 * (bool(prefix) or tokens[0].lower_ in KEEP_DETERMINERS or tokens[0].tag_ == "PRP$")  # not a bare "Name"
    score -= position / 200  # earlier is better, all else equal
    return Phrase(score, chunk.root.lower_, title_case(text))


def key_phrases(text: str) -> list[Phrase]:
    """The noun phrases of ``text`` that can be titles, best first."""
    doc = get_chunker()(text)
    phrases = [p for p in (_phrase(chunk, chunk.start) for chunk in doc.noun_chunks) if p is not None]
    return sorted(phrases, key=lambda p: -p.score)


def pick_titles(passages: Sequence[str]) -> list[str]:
    """One title per passage, each a key noun phrase whose head noun no earlier title
    used when another is left. A passage with no noun phrase of its own ("He must
    decide.") takes the best unused one of all the passages; "" when there is none."""
    per_passage = [key_phrases(passage) for passage in passages]
    everywhere = sorted((p for phrases in per_passage for p in phrases), key=lambda p: -p.score)
    used: set[str] = set()
    titles = []
    for phrases in per_passage:
        pick = next((p for p in phrases if p.head not in used), phrases[0] if phrases else None)
        pick = pick or next((p for p in everywhere if p.head not in used), None)
        if pick is not None:
            used.add(pick.head)
        titles.append(pick.title if pick else "")
    return titles


def first_words(text: str, count: int = 5) -> str:
    """The passage's first words, title-cased: the titles when spaCy cannot load."""
    return title_case(" ".join(re.findall(r"[\w'’-]+", text)[:count]))
