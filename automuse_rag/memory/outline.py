"""The story outline: a given file split into chapter parts, or one built by
hierarchical summarization of the chunk summaries (merge each chapter's summaries in
small groups until one remains, then the chapters), never by a rolling summary."""

from __future__ import annotations

import re
from collections.abc import Callable

from automuse_rag import templates
from automuse_rag.errors import AutomuseError
from automuse_rag.memory.types import ChunkRecord, OutlinePart
from automuse_rag.models.base import ChatModel, Sampling, capable
from automuse_rag.models.extractive import extractive_summary

GROUP = 6  # summaries merged per call
MAX_SENTENCES = 4
MERGE_TOKENS = 160

_HEADING = re.compile(
    r"^\s*(?:chapter|part|book)\s+([0-9]+|[ivxlcdm]+)\b[.:)\-–—]?\s*(.*)$|^\s*([0-9]+)[.:)]\s+(.*)$",
    re.IGNORECASE,
)
_ROMAN = {"i": 1, "v": 5, "x": 10, "l": 50, "c": 100, "d": 500, "m": 1000}

Summarize = Callable[[list[str], str], str]  # (texts, what) -> merged summary


def _roman(s: str) -> int:
    total, prev = 0, 0
    for ch in reversed(s.lower()):
        v = _ROMAN[ch]
        total += -v if v < prev else v
        prev = max(prev, v)
    return total


def split_outline(text: str) -> list[OutlinePart]:
    """Parts per chapter for lines like "Chapter 3: ...", "CHAPTER IV. ..." or
    "3. Title: ..."; one part (chapter 0) when there are none. Text before the first
    heading becomes a chapter-0 part."""
    parts: list[OutlinePart] = []
    head: tuple[int, str] | None = None
    body: list[str] = []

    def flush() -> None:
        content = "\n".join(body).strip()
        if head is not None:
            parts.append(OutlinePart(head[0], head[1], content or head[1]))
        elif content:
            parts.append(OutlinePart(0, "", content))

    for line in text.splitlines():
        m = _HEADING.match(line)
        if m:
            flush()
            num = m.group(1) or m.group(3)
            rest = (m.group(2) if m.group(1) else m.group(4)) or ""
            head = (int(num) if num.isdigit() else _roman(num), line.strip())
            body = [rest.strip()] if rest.strip() else []
        else:
            body.append(line)
    flush()
    if not any(p.chapter for p in parts):
        return [OutlinePart(0, "", text.strip())]
    return parts


def model_summarizer(llm: ChatModel | None, sampling: Sampling) -> Summarize:
    """Merges summaries with the chat model, or extractively when there is none
    (``--llm extractive``) or the model fails."""

    def merge(texts: list[str], what: str) -> str:
        joined = "\n".join(t for t in texts if t.strip())
        if llm is not None and capable(llm, "can_chat"):
            prompt = templates.render("ingest_merge.txt", what=what, summaries=joined, sentences=MAX_SENTENCES)
            try:
                capped = sampling.with_(max_tokens=min(sampling.max_tokens, MERGE_TOKENS))
                out = " ".join(llm.chat([{"role": "user", "content": prompt}], capped).split())
            except AutomuseError:
                out = ""
            if len(out.split()) >= 5:
                return out
        return extractive_summary(joined, MAX_SENTENCES)

    return merge


def merge_hierarchically(texts: list[str], summarize: Summarize, what: str) -> str:
    """Merge ``texts`` in groups of :data:`GROUP`, level by level, until one remains."""
    level = [t for t in texts if t.strip()]
    if not level:
        return ""
    while len(level) > 1:
        level = [summarize(level[i : i + GROUP], what) for i in range(0, len(level), GROUP)]
    return level[0]


def build_outline(records: list[ChunkRecord], summarize: Summarize) -> tuple[str, list[OutlinePart]]:
    """Chapter summaries from chunk summaries, then the book summary from the chapters.
    Returns the outline text and its parts: the book summary (chapter 0) first, then
    one part per chapter."""
    chapters: dict[int, list[ChunkRecord]] = {}
    for rec in records:
        chapters.setdefault(rec.chapter, []).append(rec)
    parts: list[OutlinePart] = []
    for number in sorted(chapters):
        recs = chapters[number]
        title = recs[0].chapter_title or (f"Chapter {number}" if number else "Opening")
        text = merge_hierarchically([r.summary for r in recs], summarize, f"chapter {title}")
        parts.append(OutlinePart(number, title, text))
    book = merge_hierarchically([p.text for p in parts], summarize, "the whole book")
    all_parts = [OutlinePart(0, "Summary", book)] + parts
    lines = [book, ""] + [f"{p.title}: {p.text}" for p in parts]
    return "\n".join(lines).strip() + "\n", all_parts
