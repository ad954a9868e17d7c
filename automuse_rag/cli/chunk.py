"""Command: ``automuse chunk``."""

from __future__ import annotations

import typer
from rich.table import Table

from automuse_rag import books
from automuse_rag.assemble.budget import CountTokens
from automuse_rag.cli.common import LlmOption, console, print_json, settings
from automuse_rag.memory.story import check_name
from automuse_rag.models.registry import get_chat_model
from automuse_rag.text.chunk import chunk_book
from automuse_rag.text.types import Book, Chunk


def _token_counter(ctx: typer.Context, llm: str | None) -> CountTokens:
    cfg = settings(ctx, llm=llm)
    return get_chat_model(cfg.llm, cfg).count_tokens


def _stats_rows(book: Book, chunks: list[Chunk]) -> list[dict[str, int | str]]:
    rows: list[dict[str, int | str]] = []
    for chapter in book.chapters:
        sizes = [len(c.text) for c in chunks if c.chapter == chapter.number]
        rows.append(
            {
                "chapter": chapter.number,
                "title": chapter.title or ("(front matter)" if chapter.number == 0 else ""),
                "chunks": len(sizes),
                "chars": sum(sizes),
                "min": min(sizes, default=0),
                "mean": round(sum(sizes) / len(sizes)) if sizes else 0,
                "max": max(sizes, default=0),
            }
        )
    return rows


def _print_stats(book: Book, chunks: list[Chunk], limit: str) -> None:
    rows = _stats_rows(book, chunks)
    chapters = sum(1 for c in book.chapters if c.number > 0)
    front = " + front matter" if any(c.number == 0 for c in book.chapters) else ""
    sizes = [len(c.text) for c in chunks]
    who = f" by {book.author}" if book.author else ""
    console.print(f"[bold]{book.title or book.source}[/bold]{who}", highlight=False)
    console.print(
        f"{chapters} chapters{front}, {len(chunks)} chunks ({limit}), "
        f"chars per chunk min {min(sizes, default=0)} / mean {round(sum(sizes) / max(len(sizes), 1))} / max {max(sizes, default=0)}",
        highlight=False,
    )
    table = Table()
    for column in ("chapter", "title", "chunks", "chars", "min", "mean", "max"):
        table.add_column(column, justify="left" if column == "title" else "right")
    for row in rows:
        table.add_row(*(str(row[key]) for key in ("chapter", "title", "chunks", "chars", "min", "mean", "max")))
    console.print(table)


def chunk_command(
    ctx: typer.Context,
    book: str = typer.Argument(
        ..., metavar="BOOK", help="A text file, a catalog name (automuse books list), 'sample' or a Gutenberg ID."
    ),
    size: int = typer.Option(1500, "--size", min=1, help="Target chunk size in characters."),
    tokens: int | None = typer.Option(
        None, "--tokens", min=1, help="Target chunk size in tokens of the --llm model's tokenizer (instead of --size)."
    ),
    llm: LlmOption = None,
    story: str | None = typer.Option(
        None, "--story", help="Story name used in chunk ids (default: the catalog name or file name)."
    ),
    mirror: str | None = typer.Option(
        None, "--mirror", help="Gutenberg mirror URL or directory for IDs and names (env AUTOMUSE_GUTENBERG_MIRROR)."
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Print a JSON array: one {index, id, chapter, chapter_title, start, end, text} per chunk."
    ),
) -> None:
    """Clean a book and split it into chunks; print counts and sizes per chapter.

    Removes the Gutenberg header and licence, detects chapters and splits each chapter
    on paragraph, then sentence boundaries. --json prints the chunks themselves.

    Example: automuse chunk alice --size 1500
    """
    cfg = settings(ctx, gutenberg_mirror=mirror)
    if story is not None:
        check_name(story)  # the same names a store accepts; "" is an error, not the default
    loaded = books.load_book(book, cfg, mirror)
    name = story if story is not None else books.story_name(book)
    counter = _token_counter(ctx, llm) if tokens else None
    chunks = chunk_book(loaded, name, size, max_tokens=tokens, count_tokens=counter)
    if as_json:
        print_json([c.to_dict() for c in chunks])
        return
    _print_stats(loaded, chunks, f"≤ {tokens} tokens" if tokens else f"≤ {size} characters")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.command("chunk")(chunk_command)
