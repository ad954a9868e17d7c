"""Commands: ``check`` (compare a store's derived parts with state.sqlite) and
``repair`` (rebuild them from it, without model calls)."""

from __future__ import annotations

import typer

from automuse_rag.cli.common import REQUIRED, StoryOption, console, print_json, settings
from automuse_rag.memory.check import check_story, repair_story


def check_command(
    ctx: typer.Context,
    story: StoryOption = REQUIRED,
    as_json: bool = typer.Option(False, "--json", help="Print {story, healthy, problems, checked} as JSON."),
) -> None:
    """Compare a story's Chroma index (ids per chunk, documents, metadata, embedder,
    prefix tiers) and its exports (lore.json, graph.json, outline, story.json) with
    state.sqlite, its source of truth. One line per problem; exit code 1 when there
    is any (fix them with automuse repair). Reads only.

    Example: automuse check --story pride
    """
    report = check_story(settings(ctx), story)
    if as_json:
        print_json(report.to_dict())
    else:
        for line in report.problems:
            console.print(f"problem: {line}", highlight=False, soft_wrap=True)
        if report.healthy:
            c = report.checked
            console.print(
                f"story {story} is healthy: {c.get('chunks')} chunks, state version {c.get('state_version')}, "
                f"{sum(c.get('records', {}).values())} Chroma records checked",
                highlight=False,
            )
        else:
            fix = (
                f"run automuse repair --story {story}"
                if any(not p.startswith("correction ") for p in report.problems)
                else f"forget the corrections that no longer apply with automuse characters --story {story} --undo N"
            )
            console.print(f"story {story}: {len(report.problems)} problems; {fix}", highlight=False, soft_wrap=True)
    if not report.healthy:
        raise typer.Exit(1)


def repair_command(
    ctx: typer.Context,
    story: StoryOption = REQUIRED,
    embedder: str | None = typer.Option(None, "--embedder", help="The story's embedder, only needed when nothing records it."),
) -> None:
    """Rebuild every part of a story derived from state.sqlite, without model calls:
    upgrade an older store format, refold the lore, bring the Chroma collections back
    in line (re-embedding what is missing or different), rewrite the exports.

    Example: automuse repair --story pride
    """
    for note in repair_story(settings(ctx), story, embedder):
        console.print(note, highlight=False, soft_wrap=True)
    console.print(f"repaired story {story}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("check")(check_command)
    app.command("repair")(repair_command)
