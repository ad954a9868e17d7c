"""Commands: ``automuse lorebook export`` (a story's lore cards as a SillyTavern World
Info, a NovelAI .lorebook or a character card's character_book) and ``automuse
lorebook import`` (a writer's lorebook as lore for prompts); lore/lorebook.py."""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer

from automuse_rag.cli.common import REQUIRED, StoryOption, console, settings
from automuse_rag.errors import InputError
from automuse_rag.fsutil import write_text_atomic
from automuse_rag.locations import check_output_file
from automuse_rag.lore.lorebook import FORMATS, SUFFIXES, entries_from_entities, export_lorebook
from automuse_rag.memory.story import StoryMemory

lorebook_app = typer.Typer(
    help="Lorebooks: export a story's lore for SillyTavern, NovelAI or a character card; import a writer's own.",
    no_args_is_help=True,
)


@lorebook_app.command("export")
def export_command(
    ctx: typer.Context,
    story: StoryOption = REQUIRED,
    fmt: str = typer.Option(..., "--format", "-f", help="sillytavern (World Info JSON), novelai (.lorebook) or card (v2)."),
    out: str = typer.Option(..., "--out", "-o", help="The file to write."),
    at: int | None = typer.Option(
        None, "--at", "--as-of", help="Only what was known after chunk AT: a spoiler-free lorebook (default: the end)."
    ),
) -> None:
    """Write the story's lore cards as a lorebook: one entry per character and place,
    keyed by its name and aliases, its card as content, most mentioned first. The main
    cast (characters named in a quarter of the chunks, at most 8) are constant
    entries; the others come in when named.

    Example: automuse lorebook export --story pride --format sillytavern --out pride.json

    Example: automuse lorebook export --story pride --at 40 --format novelai --out pride.lorebook
    """
    if fmt not in FORMATS:
        raise InputError(f"--format {fmt!r} is not one of {', '.join(FORMATS)}")
    target = check_output_file(out, "--out", suggest=f"{story}{SUFFIXES[fmt]}")
    cfg = settings(ctx)
    with StoryMemory.open(cfg, story, verify=False) as memory:
        snap = memory.latest() if at is None else memory.at(at)
        entries = entries_from_entities(snap.entities(), snap.at + 1)
    data = export_lorebook(entries, fmt, story, int(time.time() * 1000))
    write_text_atomic(Path(target), json.dumps(data, ensure_ascii=False, indent=2) + "\n")
    constant = sum(e.constant for e in entries)
    console.print(
        f"wrote {len(entries)} entries ({constant} constant) to {target}" + (f" as of chunk {snap.at}" if at is not None else ""),
        highlight=False,
        soft_wrap=True,
        markup=False,
    )


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.add_typer(lorebook_app, name="lorebook")
