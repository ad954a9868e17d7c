"""Command: ``automuse characters``: a story's entities, and a writer's corrections of
who is who (``--merge A B``, ``--split NAME``, ``--undo N``; memory/corrections.py)."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from automuse_rag.assemble.cards import facts_by_entity
from automuse_rag.cli.common import REQUIRED, LlmOption, StoryOption, console, print_json, settings
from automuse_rag.errors import InputError
from automuse_rag.fsutil import atomic_path
from automuse_rag.locations import check_output_file
from automuse_rag.lore.corrections import MERGE, SPLIT
from automuse_rag.memory.corrections import Asked, correct_story, describe
from automuse_rag.memory.facts import fact_phrase
from automuse_rag.memory.graph import export_graphml
from automuse_rag.memory.review import apply_verdicts, candidates, judge
from automuse_rag.memory.story import StoryMemory
from automuse_rag.models.base import capable
from automuse_rag.models.registry import get_chat_model
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
    review: bool = typer.Option(
        False,
        "--review",
        help="Put the pairs the rules left apart but may be one person to the model (--llm), one yes/no question each.",
    ),
    apply: bool = typer.Option(False, "--apply", help="With --review: store the model's yes answers as merges."),
    questions: int = typer.Option(50, "--questions", min=1, help="With --review: ask about at most this many pairs."),
    force: bool = typer.Option(False, "--force", help="With --review: ask the embedded model too (it answers at random)."),
    llm: LlmOption = None,
    as_json: bool = typer.Option(
        False,
        "--json",
        help="Print a JSON array of {name, aliases, kind, mentions, first_chunk, last_chunk, description, facts}; "
        "with corrections, an object {story, applied, undone}; with --review, {story, asked, applied}.",
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

    --review asks a capable model (a served one: --llm openai:MODEL) about the pairs
    of characters the rules could not tell apart or together ('Mr. Gatz' and 'Henry C.
    Gatz'); with --apply its yes answers are stored as merges, as --merge stores them.

    Example: automuse characters --story gatsby --review --llm openai:qwen2.5-7b --apply
    """
    if review or apply:
        if not review:
            raise InputError("--apply stores the answers of --review; give --review too")
        if merge is not None or split or undo or since is not None or any(v is not None for v in (at, kind, graphml)):
            raise InputError(
                "--review puts pairs to the model; give --merge, --split, --undo, --from, --at, --kind and --graphml without it"
            )
        _review(settings(ctx, llm=llm), story, apply, questions, force, as_json)
        return
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


def _review(cfg: Settings, story: str, apply: bool, questions: int, force: bool, as_json: bool) -> None:
    if cfg.llm == "extractive":
        raise InputError("--review asks a model: give --llm openai:MODEL (a served model), not extractive")
    found, ents = candidates(cfg, story)  # the story's own errors first, before a model loads
    model = get_chat_model(cfg.llm, cfg)
    if not capable(model, "remote") and not force:
        raise InputError(
            f"--review asks a capable model; {cfg.llm!r} is the small embedded one, which answers at random "
            "(give --llm openai:MODEL, or --force to ask it anyway)"
        )
    verdicts = [judge(model, c, ents) for c in found[:questions]]
    stored = apply_verdicts(cfg, story, verdicts) if apply else []
    word = {True: "same", False: "different", None: "unclear"}
    if as_json:
        print_json(
            {
                "story": story,
                "candidates": len(found),
                "asked": [
                    {"a": v.candidate.a_name, "b": v.candidate.b_name, "shared": v.candidate.shared, "verdict": word[v.same]}
                    for v in verdicts
                ],
                "applied": [{"a": q.a, "b": q.b} for q in stored],
            }
        )
        return
    table = Table(title=f"{story}: {len(verdicts)} of {len(found)} candidate merges asked")
    for col in ("name", "may be", "shares", "the model says"):
        table.add_column(col, overflow="fold")
    for v in verdicts:
        table.add_row(v.candidate.a_name, v.candidate.b_name, v.candidate.shared, word[v.same])
    console.print(table)
    for q in stored:
        console.print(f"merged {q.a!r} into {q.b!r} from chunk 0", highlight=False, soft_wrap=True, markup=False)
    if verdicts and not apply:
        console.print("nothing stored: add --apply to store the 'same' answers as merges", highlight=False)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.command("characters")(characters_command)
