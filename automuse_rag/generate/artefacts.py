"""Strip chat artefacts from a model's passage before the guard sees it.

Small instruction-tuned models wrap prose in chat talk ("Sure! Here is the next
chapter:", "Let me know if you'd like..."), headings and markdown. What is left after
cleaning is what the guard checks and what would be stored.
"""

from __future__ import annotations

import re

from automuse_rag.generate.guard import NGRAM, ngrams, sentences, words

# Special tokens and prompt-format markers: "<|im_end|>", "</s>", Llama 2's "[INST]" and
# "<<SYS>>" (what a GGUF without a chat template is prompted with, and may echo, mangled
# as "<> [INST] >>"), Gemma's "<start_of_turn>model".
_SPECIAL = re.compile(
    r"<\|[^|>]{1,40}\|>|</?s>|\[/?INST\]|<</?SYS>>|</?SYS>|<start_of_turn>(?:user|model)?|<end_of_turn>"
    r"|(?<!\S)(?:<>|<<|>>)(?!\S)"
)
_LEAD_IN = re.compile(
    r"^\s*(?:sure|certainly|of course|okay|ok|absolutely|great|here(?:'s| is| are)|below is)\b[^\n]*$",
    re.IGNORECASE,
)
_LABEL_LINE = re.compile(
    r"^\s*(?:#+.*|\*{0,2}\s*(?:chapter|chunk|passage|part|scene)\s+[\w.-]+\s*[:.\-–—]?.*?\*{0,2}|"
    r"(?:next|last) (?:chunk|passage)\s*:?.*|the story so far ends like this\s*:?|the end\.?|[-*_=]{3,})\s*$",
    re.IGNORECASE,
)
_ASSISTANT_TALK = re.compile(
    r"\b(?:let me know|i hope (?:you|this)|would you like|feel free|as an ai|i(?:'ll| will| would) be happy|"
    r"here(?:'s| is) (?:a|the) (?:possible|next|continuation)|if you(?:'d| would) like|"
    r"(?:next|previous|this) (?:chunk|chapter)(?: of (?:the|my|your) (?:story|novel))?|"
    r"i(?:'ll| will) (?:continue|write)|do you have any questions|your (?:story|novel|chapter))\b",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*")


def strip_artefacts(text: str) -> str:
    """The prose in ``text``: special tokens, lead-ins, headings, labels, markdown
    emphasis and paragraphs of assistant talk removed; cut after the last complete
    sentence (the model may stop mid-sentence at its token limit)."""
    text = _SPECIAL.sub("", text).replace("\r\n", "\n").replace("**", "").replace("__", "")
    text = re.sub(r"(?<=\S)[ \t]{2,}(?=\S)", " ", text)
    paragraphs = []
    for para in re.split(r"\n\s*\n", text):
        lines = [ln for ln in para.split("\n") if not _LABEL_LINE.match(ln)]
        if lines and _LEAD_IN.match(lines[0]) and lines[0].rstrip().endswith(":"):
            lines = lines[1:]
        para = " ".join(ln.strip() for ln in lines if ln.strip())
        if para.endswith(":") and len(para.split()) <= 25:
            continue  # a lead-in such as "A few more sentences that add to the story:"
        if para and not _ASSISTANT_TALK.search(para):
            paragraphs.append(para)
    return cut_to_last_sentence("\n\n".join(paragraphs))


def cut_to_last_sentence(text: str) -> str:
    ends = list(_SENTENCE_END.finditer(text))
    if not ends:
        return text.strip()
    return text[: ends[-1].end()].strip()


def drop_echoes(text: str, sources: list[str], share: float = 0.5) -> str:
    """``text`` without the sentences it copied from ``sources`` (the prompt, earlier
    chunks): small models often echo the last passage before going on. A sentence of
    8+ words is an echo when at least ``share`` of its word 8-grams occur in the
    sources; a shorter one when it occurs there whole."""
    grams = {g for src in sources for g in ngrams(words(src), NGRAM)}
    whole = {" ".join(words(s)) for src in sources for s in sentences(src)}
    kept_paragraphs = []
    for para in re.split(r"\n\s*\n", text):
        kept = []
        for sentence in sentences(para):
            toks = words(sentence)
            mine = ngrams(toks, NGRAM)
            if mine:
                echoed = sum(1 for g in mine if g in grams) / len(mine) >= share
            else:
                echoed = len(toks) >= 3 and " ".join(toks) in whole
            if not echoed:
                kept.append(sentence)
        if kept:
            kept_paragraphs.append(" ".join(kept))
    return "\n\n".join(kept_paragraphs)
