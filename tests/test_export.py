"""Export of a story's manuscript: Markdown, text and an EPUB that ebooklib reads back."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from automuse_rag.cli import app
from automuse_rag.errors import InputError
from automuse_rag.manuscript import Manuscript, manuscript_from_records, render_md, render_txt, write_manuscript
from automuse_rag.memory.types import ChunkRecord

RECORDS = [
    ChunkRecord(0, "s:0", 1, "Chapter 1: The Workshop", "Nora opened the door. Dust lay on every bench.", "s0"),
    ChunkRecord(1, "s:1", 1, "Chapter 1: The Workshop", "The clocks had stopped at ten past four & all was still.", "s1"),
    ChunkRecord(2, "s:2", 2, "Chapter 2: The Bailiff", "Tobias Crane knocked twice.\n\nHe asked for the tower clock.", "s2"),
]


def _manuscript() -> Manuscript:
    return manuscript_from_records("The Stopped Minute", reversed(RECORDS))


def test_chapters_group_chunks_in_story_order() -> None:
    ms = _manuscript()
    assert [c.title for c in ms.chapters] == ["Chapter 1: The Workshop", "Chapter 2: The Bailiff"]
    assert ms.chapters[0].chunks == [RECORDS[0].text, RECORDS[1].text]
    assert ms.words == sum(len(r.text.split()) for r in RECORDS)


def test_markdown_and_text_hold_every_chunk_under_its_chapter() -> None:
    md, txt = render_md(_manuscript()), render_txt(_manuscript())
    assert md.startswith("# The Stopped Minute\n")
    assert md.index("## Chapter 1: The Workshop") < md.index(RECORDS[1].text) < md.index("## Chapter 2: The Bailiff")
    assert "CHAPTER 2: THE BAILIFF" in txt and RECORDS[2].text in txt


def test_epub_opens_with_ebooklib_and_has_the_chapters(tmp_path: Path) -> None:
    from ebooklib import ITEM_DOCUMENT, epub

    path = write_manuscript(_manuscript(), tmp_path / "novel.epub", "epub")
    book = epub.read_epub(str(path))
    assert book.get_metadata("DC", "title")[0][0] == "The Stopped Minute"
    docs = [item for item in book.get_items_of_type(ITEM_DOCUMENT) if item.get_name().startswith("chapter_")]
    assert len(docs) == 2
    bodies = [d.get_content().decode("utf-8") for d in docs]
    assert "Chapter 1: The Workshop" in bodies[0] and "ten past four &amp; all was still" in bodies[0]
    assert "<p>He asked for the tower clock.</p>" in bodies[1]
    assert [t.title for t in book.toc] == ["Chapter 1: The Workshop", "Chapter 2: The Bailiff"]


def test_unknown_format_and_empty_story_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="unknown export format"):
        write_manuscript(_manuscript(), tmp_path / "x.pdf", "pdf")
    with pytest.raises(InputError, match="no chunks"):
        write_manuscript(Manuscript("Empty", "me", []), tmp_path / "x.md", "md")


def test_cli_export_of_a_missing_story_is_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["--home", str(tmp_path), "export", "--story", "nothing-here", "--format", "md"])
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert "error:" in result.output and "no story" in result.output
