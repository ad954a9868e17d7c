"""Commands: ``generate`` (write a novel from a premise) and ``export`` (the manuscript
as Markdown, plain text or EPUB)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from automuse_rag.cli.common import (
    REQUIRED,
    EmbedderOption,
    JsonOption,
    LlmOption,
    NoCacheOption,
    SeedOption,
    StoryOption,
    TemperatureOption,
    TopPOption,
    console,
    err_console,
    print_json,
    settings,
)
from automuse_rag.cli.progress import progress_bar
from automuse_rag.generate.continuity import check_confirm, check_mode
from automuse_rag.generate.loop import GenerationResult, generate_story, options_from_settings
from automuse_rag.generate.writer import GenerationProgress
from automuse_rag.locations import check_output_file
from automuse_rag.manuscript import FORMATS, export_story

if TYPE_CHECKING:
    from rich.progress import TaskID


def generate(
    ctx: typer.Context,
    premise: str = typer.Option(..., "--premise", "-p", help="The premise: a file holding it, or the text itself."),
    story: StoryOption = REQUIRED,
    chunks: int = typer.Option(12, "--chunks", "-n", min=1, help="Total chunks the story should have."),
    style: str | None = typer.Option(None, "--style", help='Style for plan and prose, e.g. "write like a Victorian gentleman".'),
    llm: LlmOption = None,
    memory_llm: str | None = typer.Option(
        None, "--memory-llm", help="Backend that summarizes chunks and extracts lore (default: --llm; 'extractive' is fastest)."
    ),
    embedder: EmbedderOption = None,
    budget: int | None = typer.Option(None, "--budget", min=128, help="Prompt token budget (env AUTOMUSE_BUDGET; default 2048)."),
    chunks_per_chapter: int | None = typer.Option(
        None, "--chunks-per-chapter", min=1, help="A chapter ends after this many chunks at the latest (default 4)."
    ),
    temperature: TemperatureOption = None,
    top_p: TopPOption = None,
    frequency_penalty: float | None = typer.Option(
        None, "--frequency-penalty", min=-2.0, max=2.0, help="Frequency penalty (default 0)."
    ),
    presence_penalty: float | None = typer.Option(
        None, "--presence-penalty", min=-2.0, max=2.0, help="Presence penalty (default 0)."
    ),
    max_tokens: int | None = typer.Option(
        None, "--max-tokens", min=16, help="Max tokens per chunk (env AUTOMUSE_CHUNK_TOKENS; default 320)."
    ),
    retries: int | None = typer.Option(None, "--retries", min=0, help="Regenerations of a chunk the guard rejects (default 4)."),
    seed: SeedOption = None,
    continuity: str = typer.Option(
        "retry",
        "--continuity",
        help="A candidate that contradicts the story's facts (a dead character speaks...): retry it with the fact "
        "pinned, warn (log it, keep it) or off.",
    ),
    confirm: str = typer.Option(
        "auto",
        "--confirm",
        help="Put each contradiction the check finds to the model in one short call, and keep the candidate when "
        "it answers no: auto (a model served over the network, not the embedded one), on or off.",
    ),
    no_cache: NoCacheOption = False,
    plan_only: bool = typer.Option(
        False, "--plan-only", help="Write the plan (outline.md, cast.toml) and stop, so you can edit it."
    ),
    as_json: JsonOption = False,
) -> None:
    """Write a novel from a premise: a plan, then one memory-backed chunk at a time.

    The model plans numbered chapters and a cast into stores/NAME/outline.md and cast.toml
    (edit them; the next run reads them). Each chunk is written from a token-budgeted prompt
    of the chapter plan, lore and memories retrieved from what was written so far, checked
    by the degeneration guard and against the facts the story has stated (rejections go to
    rejections.jsonl and are regenerated hotter, a broken fact pinned in the prompt),
    then summarized and stored as ingest does. stores/NAME/manuscript.md is kept current.
    Run the same command again to continue after an interruption.

    Example: automuse generate --premise books/sample/premise.txt --story clocks --chunks 12 --memory-llm extractive
    """
    cfg = settings(
        ctx,
        llm=llm,
        budget=budget,
        chunks_per_chapter=chunks_per_chapter,
        temperature=temperature,
        top_p=top_p,
        frequency_penalty=frequency_penalty,
        presence_penalty=presence_penalty,
        chunk_tokens=max_tokens,
        guard_retries=retries,
        seed=seed,
        cache=False if no_cache else None,
    )
    opts = options_from_settings(cfg, chunks, style=style, continuity=check_mode(continuity), confirm=check_confirm(confirm))
    run = functools.partial(
        generate_story,
        cfg,
        story,
        premise,
        chunks=chunks,
        llm=cfg.llm,
        embedder=embedder,
        analysis_llm=memory_llm,
        options=opts,
        plan_only=plan_only,
    )
    result = run() if as_json else _generate_with_bar(run, chunks)
    if as_json:
        print_json(result.to_dict())
        return
    _print_result(result)


def _generate_with_bar(run: Callable[..., GenerationResult], chunks: int) -> GenerationResult:
    """``run(progress=...)`` under a progress bar that appears with the first event."""
    words = (
        "{task.fields[words]} words",
        "{task.fields[rejections]} rejected ({task.fields[continuity]} continuity)",
        "ch. {task.fields[chapter]}",
    )
    with progress_bar("[bold]chunks", extra=words, eta="ETA", transient=False) as bar:
        tasks: list[TaskID] = []  # the bar appears with the first event, so an early error is one line

        def on_progress(ev: GenerationProgress) -> None:
            if not tasks:
                tasks.append(bar.add_task("generate", total=chunks, words=0, rejections=0, continuity=0, chapter=1, start=False))
            task = tasks[0]
            if ev.event == "start":  # after the plan; chunks already stored do not count towards the rate
                bar.reset(task, completed=ev.done)
                bar.start_task(task)
            elif ev.event == "rejected":
                err_console.print(f"[yellow]rejected[/] a candidate for chunk {ev.done}: {ev.note}")
            bar.update(
                task,
                completed=ev.done,
                words=ev.words,
                rejections=ev.rejections,
                continuity=ev.continuity,
                chapter=ev.chapter or 1,
            )

        return run(progress=on_progress)


def _print_result(result: GenerationResult) -> None:
    from rich.table import Table

    if result.plan_fallback:
        err_console.print("[yellow]note:[/] the model gave no usable plan; a plan was built from the premise's sentences")
    if result.plan_only:
        console.print(f"plan written: {result.outline} and {result.cast}; edit them, then run without --plan-only")
        return
    table = Table(title=f"story {result.story}", show_header=False)
    for key, value in (
        ("chunks", f"{result.chunks} ({result.new_chunks} new)"),
        ("words", result.words),
        ("rejected candidates", result.rejections),
        ("continuity rejections", result.continuity_rejections),
        ("chapter", result.chapter),
        ("seconds", result.seconds),
        ("manuscript", result.manuscript),
    ):
        table.add_row(key, str(value))
    console.print(table)


def export(
    ctx: typer.Context,
    story: StoryOption = REQUIRED,
    fmt: str = typer.Option("md", "--format", "-f", help="md, txt or epub."),
    out: Path | None = typer.Option(
        None,
        "--out",
        "-o",
        help="Output file (default: NAME.FORMAT in the current directory; the store itself is never written).",
    ),
    as_json: JsonOption = False,
) -> None:
    """Export a story's manuscript (chapters with titles) as Markdown, text or EPUB.

    Example: automuse export --story clocks --format epub --out clocks.epub
    """
    cfg = settings(ctx)
    if out is not None and fmt.lower() in FORMATS:
        out = check_output_file(out, "--out", suggest=f"{story}.{fmt.lower()}")
    path = export_story(cfg, story, fmt.lower(), out)
    if as_json:
        print_json({"story": story, "format": fmt.lower(), "path": str(path), "bytes": path.stat().st_size})
    else:
        console.print(f"wrote {path} ({path.stat().st_size:,} bytes)")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.command("generate")(generate)
    app.command("export")(export)
