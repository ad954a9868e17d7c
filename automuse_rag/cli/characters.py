"""Command: ``automuse characters``: a story's entities, and a writer's corrections of
who is who (``--merge A B``, ``--split NAME``, ``--undo N``; memory/corrections.py)."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from automuse_rag.assemble.cards import facts_by_entity
from automuse_rag.cli.common import REQUIRED, StoryOption, console, print_json, settings
from automuse_rag.errors import InputError
from automuse_rag.fsutil import atomic_path
from automuse_rag.locations import check_output_file
from automuse_rag.lore.corrections import MERGE, SPLIT
from automuse_rag.memory.corrections import Asked, correct_story, describe
from automuse_rag.memory.facts import fact_phrase
from automuse_rag.memory.graph import export_graphml
from automuse_rag.memory.story import StoryMemory
from automuse_rag.settings import Settings


def characters_command(
    ctx: typer.Context,
    story: StoryOption = REQUIRED,
    at: int | None = typer.Option(None, "--at", "--as-of", help="Only what was known after chunk AT (default: the end)."),
    kind: str | None = typer.Option(None, "--kind", help="Only this kind: character, place or thing."),
    limit: int = typer.Option(30, "--limit", min=1, help="Rows in the table (JSON lists all)."),
    graphml: str | None = typer.Option(
        None, "--graphml", help="Also write the character graph (as of --at) to this GraphML file."
    ),
    merge: tuple[str, str] | None = typer.Option(
        None,
        "--merge",
        metavar="A B",
        help="A correction: names A and B are one character (B's), whatever the rules say.",
    ),
    split: list[str] = typer.Option(
        [], "--split", metavar="NAME", help="A correction: NAME is a character of its own (repeatable)."
    ),
    undo: list[int] = typer.Option([], "--undo", metavar="N", help="Forget correction N (as check numbers them; repeatable)."),
    since: int | None = typer.Option(
        None, "--from", metavar="I", help="The corrections hold from chunk I on (default 0: the whole story)."
    ),
    as_json: bool = typer.Option(
        False,
        "--json",
        help="Print a JSON array of {name, aliases, kind, mentions, first_chunk, last_chunk, description, facts}; "
        "with corrections, an object {story, applied, undone}.",
    ),
) -> None:
    """The story's entities (characters, places, things), most mentioned first, each
    with the state facts in force (died, eye colour, kin...) and the chunk where each
    became true; or correct who is who.

    A correction is stored with the story (kept by ingest and repair; automuse check
    reports one that no longer applies) and re-resolves the story from the chunk it
    holds from: --merge 'Mrs. Rachel' 'Rachel Lynde' makes one character of two,
    --split Rachel makes a name its own character. It prints one line per correction.

    Example: automuse characters --story pride --json

    Example: automuse characters --story pride --merge 'Lizzy' 'Elizabeth Bennet' --from 12
    """
    cfg = settings(ctx)
    if merge is not None or split or undo or since is not None:
        _correct(cfg, story, merge, split, undo, since, as_json, (at, kind, graphml))
        return
    target = check_output_file(graphml, "--graphml", suggest=f"{story}.graphml") if graphml is not None else None
    with StoryMemory.open(cfg, story) as memory:
        snap = memory.latest() if at is None else memory.at(at)
        ents = [e for e in snap.entities() if kind is None or e.kind == kind]
        facts = facts_by_entity(snap, [e.id for e in ents])
        fixes = memory.corrections()
        if target is not None:
            with atomic_path(target) as tmp:
                export_graphml(snap.graph(), tmp)
    rows: list[dict[str, Any]] = [
        {
            "name": e.name,
            "aliases": [a for a in e.names() if a != e.name],
            "kind": e.kind,
            "mentions": len(e.mentions),
            "first_chunk": e.first_chunk,
            "last_chunk": e.last_chunk,
            "description": e.description,
            "id": e.id,
            "facts": [
                {"kind": k.fact.kind, "value": k.fact.value, "chunk": k.fact.chunk, "sentence": k.fact.sentence}
                for k in facts.get(e.id, [])
            ],
        }
        for e in ents
    ]
    if as_json:
        print_json(rows)
        return
    table = Table(title=f"{story}: entities" + (f" as of chunk {at}" if at is not None else ""))
    for col in ("name", "kind", "mentions", "chunks", "aliases", "description", "facts"):
        table.add_column(col, overflow="fold")
    for r in rows[:limit]:
        table.add_row(
            r["name"],
            r["kind"],
            str(r["mentions"]),
            f"{r['first_chunk']}-{r['last_chunk']}",
            ", ".join(r["aliases"]),
            r["description"][:120],
            "; ".join(f"{fact_phrase(f['kind'], f['value'])} (chunk {f['chunk']})" for f in r["facts"]),
        )
    console.print(table)
    for c in fixes:  # numbered as --undo takes them
        console.print(f"correction {c.seq}: {describe(c)}", highlight=False, soft_wrap=True, markup=False)


def _correct(
    cfg: Settings,
    story: str,
    merge: tuple[str, str] | None,
    split: list[str],
    undo: list[int],
    since: int | None,
    as_json: bool,
    listing: tuple[int | None, str | None, str | None],
) -> None:
    if any(v is not None for v in listing):
        raise InputError("--at, --kind and --graphml list entities; give them without --merge, --split, --undo or --from")
    asked = ([Asked(MERGE, merge[0], merge[1])] if merge else []) + [Asked(SPLIT, name) for name in split]
    if not asked and not undo:
        raise InputError("--from needs a correction: --merge A B or --split NAME")
    given, undone = correct_story(cfg, story, asked, 0 if since is None else since, undo)
    lines = [f"forgot correction {c.seq}: {describe(c)}" for c in undone] + [describe(c) for c in given]
    if as_json:
        print_json(
            {
                "story": story,
                "applied": [
                    {"seq": c.seq, "kind": c.kind, "a": c.a, "b": c.b, "from": c.chunk, "line": describe(c)} for c in given
                ],
                "undone": [{"seq": c.seq, "kind": c.kind, "a": c.a, "b": c.b, "from": c.chunk} for c in undone],
            }
        )
        return
    for line in lines:
        console.print(line, highlight=False, soft_wrap=True, markup=False)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.command("characters")(characters_command)
