"""Commands: ``prompt`` (assemble one prompt and show every decision), ``dataset``
(export fine-tuning data) and ``query`` (search story memory as of a chunk)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from automuse_rag.assemble import Template, build_prompt, load_template
from automuse_rag.cli.common import (
    REQUIRED,
    STORY_HELP,
    BudgetOption,
    JsonOption,
    LlmOption,
    StoryOption,
    console,
    print_json,
    settings,
)
from automuse_rag.cli.progress import progress_bar
from automuse_rag.errors import InputError, StoreError
from automuse_rag.finetune.dataset import FORMATS, export_corpus
from automuse_rag.locations import check_output_file
from automuse_rag.memory.api import StoryView
from automuse_rag.memory.catalog import select_stories
from automuse_rag.memory.story import StoryMemory
from automuse_rag.models.registry import get_chat_model
from automuse_rag.settings import Settings

FATE_STYLE = {"included": "green", "shortened": "yellow", "dropped": "red"}

TEMPLATE_HELP = "A prompt template file replacing the built-in one (syntax: automuse_rag/templates/prompt_default.txt)."


@contextmanager
def open_stories(cfg: Settings, names: list[str], *, queries: bool = True) -> Iterator[list[Any]]:
    """The stored stories (StoryViews), closed on exit; StoreError if one does not exist.
    ``queries``: the command embeds queries (its embedder starts loading at once)."""
    opened: list[Any] = []
    try:
        for name in names:
            opened.append(StoryMemory.open(cfg, name, queries=queries))
        yield opened
    finally:
        for mem in opened:
            mem.close()


def token_counter(cfg: Settings, spec: str | None) -> Callable[[str], int]:
    """``count_tokens`` of the model ``spec`` (default: the configured LLM), whose
    tokenizer starts loading now if it can (``warm``), while the caller opens stores."""
    model = get_chat_model(spec or cfg.llm, cfg)
    warm = getattr(model, "warm", None)
    if callable(warm):
        warm()
    return model.count_tokens


def _template(path: Path | None, chat: bool = False) -> Template:
    if path is not None:
        return load_template(path)
    return load_template("chat" if chat else "default")


def _spans(numbers: list[int]) -> str:
    """``[0, 1, 2, 5]`` -> ``"0-2, 5"``."""
    out: list[str] = []
    for n in sorted(set(numbers)):
        if out and n == int(out[-1].split("-")[-1]) + 1:
            out[-1] = f"{out[-1].split('-')[0]}-{n}"
        else:
            out.append(str(n))
    return ", ".join(out)


def _check_chapter(story: StoryView, chapter: int | None) -> None:
    """--chapter must name a chapter of the story's outline or of its chunks."""
    if chapter is None:
        return
    known = {p.chapter for p in story.outline_parts()} | {r.chapter for r in story.latest().records()}
    if chapter not in known:
        have = f"chapters {_spans(sorted(known))}" if known else "no chapters yet"
        raise InputError(f"--chapter {chapter}: story {story.name!r} has no such chapter (it has {have})")


def parse_positions(spec: str) -> list[int]:
    """``--at`` values: one index or a comma-separated list ("12" or "3,7,12")."""
    try:
        values = [int(part) for part in spec.split(",") if part.strip()]
    except ValueError:
        raise InputError(f"--at takes a chunk index or a comma-separated list of them, not {spec!r}") from None
    if not values:
        raise InputError("--at needs at least one chunk index")
    return values


# -- prompt ------------------------------------------------------------------------


def _decision_table(prompt: Any) -> Table:
    table = Table(title=f"Context: {prompt.tokens} of {prompt.budget} tokens", show_lines=False)
    table.add_column("candidate", overflow="fold")
    table.add_column("section", max_width=8, overflow="ellipsis")
    for col in ("chunk", "score", "tokens"):
        table.add_column(col, justify="right")
    table.add_column("fate")
    table.add_column("reason", overflow="fold", ratio=1)
    for d in prompt.decisions:
        chunk = "" if d.chunk < 0 else str(d.chunk)
        table.add_row(
            d.candidate_id, d.section, chunk, f"{d.score:.2f}", str(d.tokens), Text(d.fate, style=FATE_STYLE[d.fate]), d.reason
        )
    return table


def prompt_cmd(
    ctx: typer.Context,
    story: StoryOption = REQUIRED,
    at: str = typer.Option(
        ...,
        "--at",
        help="Index of the last chunk already written (the prompt precedes chunk AT+1; -1: nothing written yet), or a comma-separated list of them.",
    ),
    budget: BudgetOption = None,
    llm: LlmOption = None,
    template: Path | None = typer.Option(None, "--template", help=TEMPLATE_HELP),
    chapter: int | None = typer.Option(None, "--chapter", help="Outline part to use (default: the chapter of chunk AT)."),
    k: int = typer.Option(8, "-k", min=1, help="Memories to fetch by vector search."),
    as_json: bool = typer.Option(
        False, "--json", help="Print the sections, candidates, token counts and timings as JSON (a list for several positions)."
    ),
) -> None:
    """Assemble the prompt that precedes chunk AT+1 from memory known at chunk AT, and
    show every candidate (lore card, memory, outline, last chunk) with its fate:
    included, shortened or dropped, and why, and where the time went.

    Example: automuse prompt --story sample --at 12 --budget 1024
    """
    positions = parse_positions(at)
    cfg = settings(ctx, llm=llm, budget=budget)
    tmpl, count = _template(template), token_counter(cfg, llm)
    results = []
    with open_stories(cfg, [story]) as (mem,):
        snaps = [mem.at(pos) for pos in positions]
        _check_chapter(mem, chapter)
        for snap in snaps:
            result = build_prompt(snap, budget=cfg.budget, count_tokens=count, template=tmpl, chapter=chapter, k=k)
            results.append((snap.at, result))
    if as_json:
        items = [{"story": story, "at": pos, **result.to_dict()} for pos, result in results]
        print_json(items[0] if len(items) == 1 else items)
        return
    for pos, result in results:
        console.print(Panel(Text(result.text), title=f"prompt for chunk {pos + 1} of {story}", expand=False))
        console.print(_decision_table(result))
        t = result.timings_ms
        console.print(
            f"time: retrieval {t['retrieval']:.1f} ms, assembly {t['assembly']:.1f} ms, total {t['total']:.1f} ms",
            highlight=False,
        )


# -- dataset -----------------------------------------------------------------------


def _summary_table(summary: Any) -> Table:
    table = Table(title="Dataset", show_header=False)
    table.add_column("", style="bold")
    table.add_column("")
    p, c = summary.prompt_tokens, summary.completion_tokens
    rows = [
        (
            "samples",
            f"{summary.samples} ({summary.train} train, {summary.validation} validation, split by {summary.split_by}"
            + (f"; {summary.duplicates} duplicates left out)" if summary.duplicates else ")"),
        ),
        ("files", summary.train_path + (f", {summary.validation_path}" if summary.validation_path else "")),
        ("format", summary.format),
        ("prompt tokens", f"min {p['min']}, median {p['median']}, max {p['max']} (budget {summary.budget})"),
        ("completion tokens", f"min {c['min']}, median {c['median']}, max {c['max']}"),
        ("dropped items", ", ".join(f"{k}: {v}" for k, v in summary.drop_reasons.items()) or "none"),
        ("shortened items", ", ".join(f"{s}: {f.get('shortened', 0)}" for s, f in summary.fates.items()) or "none"),
        ("leakage audit", f"{summary.leakage_violations} violations in {summary.leakage_checked} samples"),
        ("invalid samples", str(summary.invalid) + (f" ({summary.invalid_reasons[0]})" if summary.invalid_reasons else "")),
    ]
    for key, value in rows:
        table.add_row(key, value)
    return table


def dataset_cmd(
    ctx: typer.Context,
    story: list[str] | None = typer.Option(
        None, "--story", "-s", help=STORY_HELP + " Repeat for several stories; a glob (pg1*) takes the finished ones it matches."
    ),
    every: bool = typer.Option(False, "--all", help="Every finished story."),
    out: Path = typer.Option(..., "--out", "-o", help="Output JSONL file (validation samples go to OUT.val.jsonl)."),
    budget: BudgetOption = None,
    fmt: str = typer.Option(
        "completion", "--format", help="completion: {prompt, completion}; chat: {messages: [system, user, assistant]}."
    ),
    val_fraction: float = typer.Option(
        0.1, "--val-fraction", min=0.0, max=0.99, help="Share of samples held out for validation."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the train/validation split (same seed, same split)."),
    llm: LlmOption = None,
    template: Path | None = typer.Option(None, "--template", help=TEMPLATE_HELP),
    completion_limit: int = typer.Option(
        1024, "--completion-limit", min=1, help="Most tokens a completion (the next chunk) may have."
    ),
    as_json: JsonOption = False,
) -> None:
    """Export fine-tuning data: one sample per chunk position, the prompt built from
    memory known before that chunk and the chunk itself as the completion. Every
    sample is validated and audited for future leakage; a summary follows.

    Example: automuse dataset --story sample --out sample.jsonl --format chat --val-fraction 0.2
    """
    if fmt not in FORMATS:
        raise InputError(f"unknown --format {fmt!r}; choose completion or chat")
    if not story and not every:
        raise InputError("no stories given: pass --story NAME (repeatable, a glob too) or --all")
    out = check_output_file(out, "--out", suggest=f"{(story or ['all'])[0].strip('*?[]') or 'stories'}.jsonl")
    cfg = settings(ctx, llm=llm, budget=budget)
    chosen = select_stories(cfg, story or [], every)
    if not chosen:
        raise InputError("there is no finished story to export (see automuse stories list)")
    count = token_counter(cfg, llm)
    tmpl = _template(template, chat=fmt == "chat")
    with progress_bar("samples", enabled=not as_json) as bar:
        task = bar.add_task("samples", total=sum(n for _, n in chosen))
        summary = export_corpus(
            [name for name, _ in chosen],
            lambda name: StoryMemory.open(cfg, name),
            out,
            budget=cfg.budget,
            count_tokens=count,
            fmt=fmt,
            val_fraction=val_fraction,
            seed=seed,
            template=tmpl,
            completion_limit=completion_limit,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
            total=sum(n for _, n in chosen),
        )
    if as_json:
        print_json(summary.to_dict())
    else:
        console.print(_summary_table(summary))
    if summary.leakage_violations:
        raise StoreError(f"leakage audit failed: {summary.leakage_violations} violations (first: {summary.leaks[0]})")


# -- query -------------------------------------------------------------------------


def query_cmd(
    ctx: typer.Context,
    question: str = typer.Argument(..., help="What to look for in story memory."),
    story: StoryOption = REQUIRED,
    at: int | None = typer.Option(None, "--at", help="Only memory known at chunk AT (default: all of it)."),
    k: int = typer.Option(8, "-k", min=1, help="How many memories to show."),
    as_json: JsonOption = False,
) -> None:
    """Search story memory (chunk summaries and lore cards) for QUESTION and show the
    best matches with their chunk, chapter and score. With --at, only what was known
    at chunk AT is searched.

    Example: automuse query --story sample "who owns Hollin Island?" --at 10 -k 5
    """
    if not question.strip():
        raise InputError("the question is empty")
    cfg = settings(ctx)
    with open_stories(cfg, [story]) as (mem,):
        snap = mem.latest() if at is None else mem.at(at)
        hits = snap.search(question, k=k, kinds=("summary", "entity"))
    if as_json:
        print_json(
            {
                "story": story,
                "question": question,
                "at": at,
                "hits": [
                    {"id": h.id, "kind": h.kind, "chunk": h.chunk, "chapter": h.chapter, "score": h.score, "text": h.text}
                    for h in hits
                ],
            }
        )
        return
    table = Table(title=f"{question!r} in {story}" + (f" as of chunk {at}" if at is not None else ""))
    for col in ("kind", "chunk", "chapter", "score", "memory"):
        table.add_column(col, overflow="fold", justify="right" if col in ("chunk", "chapter", "score") else "left")
    for h in hits:
        table.add_row(h.kind, str(h.chunk), str(h.chapter), f"{h.score:.3f}", h.text)
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add ``prompt``, ``dataset`` and ``query`` to the app."""
    app.command("prompt")(prompt_cmd)
    app.command("dataset")(dataset_cmd)
    app.command("query")(query_cmd)
