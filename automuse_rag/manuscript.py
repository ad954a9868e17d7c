"""A story's manuscript, rendered from its stored chunks: Markdown, plain text, EPUB.

Chunks are grouped by chapter in story order; each chapter keeps its title. The
same rendering keeps ``stores/NAME/manuscript.md`` current during generation and
serves ``automuse export``.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from automuse_rag.errors import InputError
from automuse_rag.fsutil import atomic_path, write_text_atomic
from automuse_rag.memory.story import StoryMemory
from automuse_rag.memory.types import ChunkRecord
from automuse_rag.settings import Settings

FORMATS = ("md", "txt", "epub")


@dataclass
class ManuscriptChapter:
    number: int
    title: str
    chunks: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n\n".join(c.strip() for c in self.chunks if c.strip())


@dataclass
class Manuscript:
    title: str
    author: str
    chapters: list[ManuscriptChapter]
    note: str = ""  # a line under the title (e.g. that the plan fell back)

    @property
    def words(self) -> int:
        return sum(len(ch.text.split()) for ch in self.chapters)


def manuscript_from_records(title: str, records: Iterable[ChunkRecord], author: str = "automuse-rag") -> Manuscript:
    chapters: list[ManuscriptChapter] = []
    for rec in sorted(records, key=lambda r: r.index):
        if not chapters or chapters[-1].number != rec.chapter:
            chapters.append(ManuscriptChapter(rec.chapter, rec.chapter_title or f"Chapter {rec.chapter}"))
        chapters[-1].chunks.append(rec.text)
    return Manuscript(title=title or "Untitled", author=author, chapters=chapters)


def render_md(ms: Manuscript) -> str:
    parts = [f"# {ms.title}", ""] + ([ms.note, ""] if ms.note else [])
    for ch in ms.chapters:
        parts += [f"## {ch.title}", "", ch.text, ""]
    return "\n".join(parts).rstrip() + "\n"


def render_txt(ms: Manuscript) -> str:
    parts = [ms.title, f"by {ms.author}", "", ""]
    for ch in ms.chapters:
        parts += [ch.title.upper(), "", ch.text, "", ""]
    return "\n".join(parts).rstrip() + "\n"


def _paragraphs_html(text: str) -> str:
    paras = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    return "\n".join(f"<p>{html.escape(' '.join(p.split()))}</p>" for p in paras)


def write_epub(ms: Manuscript, path: Path) -> Path:
    """An EPUB 3 with one XHTML document per chapter, a table of contents and nav."""
    from ebooklib import epub

    book = epub.EpubBook()
    digest = hashlib.sha1((ms.title + "".join(c.text for c in ms.chapters)).encode("utf-8")).hexdigest()
    book.set_identifier(f"automuse-{digest[:16]}")
    book.set_title(ms.title)
    book.set_language("en")
    book.add_author(ms.author)
    docs = []
    for i, ch in enumerate(ms.chapters, start=1):
        doc = epub.EpubHtml(title=ch.title, file_name=f"chapter_{i:03d}.xhtml", lang="en")
        doc.content = f"<h2>{html.escape(ch.title)}</h2>\n{_paragraphs_html(ch.text)}"
        book.add_item(doc)
        docs.append(doc)
    book.toc = tuple(docs)
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    book.spine = ["nav", *docs]
    with atomic_path(path) as tmp:  # temp file, fsync, rename, fsync of the directory
        epub.write_epub(str(tmp), book)
    return path


def write_manuscript(ms: Manuscript, path: Path, fmt: str) -> Path:
    if fmt not in FORMATS:
        raise InputError(f"unknown export format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    if not ms.chapters:
        raise InputError(f"the story {ms.title!r} has no chunks yet; nothing to export")
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "epub":
        return write_epub(ms, path)
    write_text_atomic(path, render_md(ms) if fmt == "md" else render_txt(ms))
    return path


def export_story(settings: Settings, name: str, fmt: str, out: Path | None = None) -> Path:
    """Export story ``name``'s manuscript as ``fmt`` (md, txt, epub) to ``out``
    (default: ``NAME.FMT`` in the current directory: exporting reads the store and
    writes nothing in it)."""
    if fmt not in FORMATS:
        raise InputError(f"unknown export format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    with StoryMemory.open(settings, name) as story:
        records = story.latest().records()
    ms = manuscript_from_records(story_title(settings, name), records)
    target = out or Path.cwd() / f"{name}.{fmt}"
    return write_manuscript(ms, target, fmt)


def story_title(settings: Settings, name: str) -> str:
    """The title from the story's outline.md (``# Title``), else the story name."""
    outline = settings.stores_dir / name / "outline.md"
    if outline.exists():
        for line in outline.read_text(encoding="utf-8").splitlines():
            if line.startswith("# "):
                return line[2:].strip()
    return name
