"""Command: ``automuse continuity``: the sentences of a story that contradict the state
facts known before them (memory/continuity.py)."""

from __future__ import annotations

import typer
from rich.table import Table

from automuse_rag.cli.common import REQUIRED, StoryOption, console, print_json, settings
from automuse_rag.generate.continuity import stated_at, story_plan_facts
from automuse_rag.memory.continuity import check_story, report
from automuse_rag.memory.story import StoryMemory


def continuity_command(
    ctx: typer.Context,
    story: StoryOption = REQUIRED,
    start: int | None = typer.Option(None, "--from", metavar="I", help="First chunk to check (default 0)."),
    end: int | None = typer.Option(None, "--to", metavar="J", help="Last chunk to check (default: the last)."),
    as_json: bool = typer.Option(
        False,
        "--json",
        help='Print a JSON list of {"chunk", "chapter", "kind", "entity", "text", "fact": {"kind", "chunk", "text"}}.',
    ),
) -> None:
    """Report, for each chunk, the sentences that contradict facts the story stated
    before it: a character known dead who acts or speaks, an attribute changed with no
    change stated, kinship or marriage contradicted, and (in a generated story) someone
    else named as the holder of a role its plan gives one character. Each report cites the sentence
    and the fact it breaks, with that fact's own chunk and sentence. A fact broken in
    three chunks or more is reported at the first, the later ones listed ("again").
    Exit code 1 when there is any, as automuse check. Reads only.

    Example: automuse continuity --story frankenstein --from 100 --to 200
    """
    cfg = settings(ctx)
    with StoryMemory.open(cfg, story) as memory:
        rows = report(memory, check_story(memory, start, end, plan=story_plan_facts(cfg, story)))
    if as_json:
        print_json(rows)
    elif rows:
        table = Table(title=f"{story}: {len(rows)} contradictions")
        for col in ("chunk", "chapter", "kind", "entity", "sentence", "breaks"):
            table.add_column(col, overflow="fold")
        for r in rows:
            fact = r["fact"]
            table.add_row(
                str(r["chunk"]),
                str(r["chapter"]),
                r["kind"],
                r["entity"],
                r["text"] + (f" (again in chunks {', '.join(map(str, r['again']))})" if r["again"] else ""),
                f"{fact['kind']} ({stated_at(fact['chunk'])}): {fact['text']}",
            )
        console.print(table)
    else:
        console.print(f"story {story}: no contradictions found", highlight=False)
    if rows:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.command("continuity")(continuity_command)
