"""Command: ``ask`` (a spoiler-free answer from story memory, with checked citations)."""

from __future__ import annotations

import typer
from rich.table import Table
from rich.text import Text

from automuse_rag.ask import answer_question
from automuse_rag.cli.assemble import open_stories
from automuse_rag.cli.common import REQUIRED, LlmOption, NoCacheOption, StoryOption, console, err_console, print_json, settings
from automuse_rag.models.registry import get_chat_model


def ask_cmd(
    ctx: typer.Context,
    question: str = typer.Argument(..., help='The question, e.g. "Who is Arthur Blackwood?".'),
    story: StoryOption = REQUIRED,
    at: int | None = typer.Option(
        None, "--at", help="Answer as known after chunk AT: nothing later is used (default: the whole story)."
    ),
    llm: LlmOption = None,
    k: int = typer.Option(8, "-k", min=1, help="Memories to fetch by vector search (per activation)."),
    no_cache: NoCacheOption = False,
    as_json: bool = typer.Option(
        False, "--json", help='Print {"question", "at", "answer", "citations": [{"chunk", "chapter", "kind", "text"}]}.'
    ),
) -> None:
    """Answer QUESTION from what the story has told by chunk AT, citing the memories
    and lore cards used as [chunk N, chapter C]. Citations are checked against what
    was retrieved; when nothing known at AT supports an answer, it says so.

    Example: automuse ask --story sample --at 12 "Who is Arthur Blackwood?"
    """
    cfg = settings(ctx, llm=llm)
    model = get_chat_model(cfg.llm, cfg, cache=False if no_cache else None)
    with open_stories(cfg, [story]) as (mem,):
        result = answer_question(mem.latest() if at is None else mem.at(at), question, llm=model, k=k)
    if result.note:
        err_console.print(Text(f"note: {result.note}", style="yellow"))
    if as_json:
        print_json(result.to_dict())
        return
    console.print(Text(result.answer))  # Text: "[chunk N, chapter C]" is not rich markup
    if result.citations:
        table = Table(title=f"citations (as of chunk {result.at})", title_justify="left")
        for col in ("chunk", "chapter", "kind", "text"):
            table.add_column(col, overflow="fold", justify="right" if col in ("chunk", "chapter") else "left")
        for c in result.citations:
            table.add_row(str(c.chunk), str(c.chapter), c.kind, Text(c.text))
        console.print(table)


def register(app: typer.Typer) -> None:
    """Add ``ask`` to the app."""
    app.command("ask")(ask_cmd)
