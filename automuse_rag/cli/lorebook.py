"""Commands: ``automuse lorebook export`` (a story's lore cards as a SillyTavern World
Info, a NovelAI .lorebook or a character card's character_book) and ``automuse
lorebook import`` (a writer's lorebook as lore for prompts); lore/lorebook.py."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import typer

from automuse_rag.cli.common import REQUIRED, StoryOption, console, settings
from automuse_rag.errors import InputError
from automuse_rag.fsutil import write_text_atomic
from automuse_rag.locations import check_output_file
from automuse_rag.lore.lorebook import FORMATS, SUFFIXES, entries_from_entities, export_lorebook
from automuse_rag.lore.lorebook_read import read_lorebook
from automuse_rag.memory.lorebook import import_lorebook
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


@lorebook_app.command("import")
def import_command(
    ctx: typer.Context,
    path: Path = typer.Argument(..., metavar="FILE", help="A SillyTavern World Info, NovelAI .lorebook or character card JSON."),
    story: StoryOption = REQUIRED,
) -> None:
    """Store a writer's own lorebook with the story, as lore for prompt and generate:
    each entry (its keys, its content) goes into a prompt's lore when the last
    chunk names one of its keys, a constant entry always, ahead of the story's own
    cards (a card whose name is a key of an entry in the prompt gives way to it). An
    import replaces the story's earlier lorebook. The format is told by the file's shape.

    Example: automuse lorebook import my-world.json --story pride
    """
    data = _read_json(path)
    fmt, entries = read_lorebook(data)
    if not entries:
        raise InputError(f"{path} has no enabled entry with content; nothing imported")
    n = import_lorebook(settings(ctx), story, entries)
    constant = sum(e.constant for e in entries)
    console.print(
        f"imported {n} entries ({constant} constant) from {path} ({fmt}) into story {story}",
        highlight=False,
        soft_wrap=True,
        markup=False,
    )


def _read_json(path: Path) -> Any:
    """The JSON in ``path``, else InputError (one line)."""
    if not path.is_file():
        raise InputError(f"{path}: no such file" if not path.exists() else f"{path} is not a file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise InputError(f"{path} is not UTF-8 text: a lorebook is a JSON file") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise InputError(f"{path} is not JSON ({exc}): a lorebook is a JSON file") from None


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.add_typer(lorebook_app, name="lorebook")
