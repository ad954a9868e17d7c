"""Commands: ``automuse ingest`` and ``automuse stories`` (``list``, ``rm NAME``; bare
``stories`` lists)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table
from rich.text import Text

from automuse_rag.books import story_name
from automuse_rag.cli.common import (
    STORY_HELP,
    ChromaUrlOption,
    EmbedderOption,
    JsonOption,
    LlmOption,
    NoCacheOption,
    console,
    err_console,
    print_json,
    settings,
)
from automuse_rag.cli.progress import progress_bar, rate_column
from automuse_rag.finetune.record import job_lines, summarize_jobs
from automuse_rag.lore.probe import lore_mode
from automuse_rag.memory.catalog import list_stories, remove_story
from automuse_rag.memory.ingest import IngestResult, ingest
from automuse_rag.memory.story import check_name, story_dir
from automuse_rag.models.base import Embedder, capable, sampling_from_settings
from automuse_rag.models.registry import get_chat_model, get_embedder
from automuse_rag.redact import redact_url

if TYPE_CHECKING:
    from rich.progress import TaskID


def ingest_command(
    ctx: typer.Context,
    book: str = typer.Argument(..., metavar="BOOK", help="A text file, a catalog name, 'sample' or a Gutenberg ID."),
    story: str | None = typer.Option(None, "--story", help=STORY_HELP + " Default: derived from BOOK."),
    outline: str | None = typer.Option(
        None, "--outline", help="Outline file to store (default: build one by hierarchical summarization)."
    ),
    llm: LlmOption = None,
    embedder: EmbedderOption = None,
    chroma_url: ChromaUrlOption = None,
    concurrency: int | None = typer.Option(
        None, "--concurrency", min=1, help="Parallel model calls with a remote (openai:*) backend (default 4)."
    ),
    size: int | None = typer.Option(None, "--size", min=100, help="Characters per chunk (default 1500)."),
    mirror: str | None = typer.Option(None, "--mirror", help="Gutenberg mirror: URL or directory with cache/epub/ID/pgID.txt."),
    no_cache: NoCacheOption = False,
    as_json: JsonOption = False,
) -> None:
    """Ingest BOOK into story memory: chunk it, summarize each chunk and extract its
    lore (spaCy NER plus one model call), embed everything into Chroma, build the
    character graph and the outline.

    Resumable: interrupt it (even kill -9) and run the same command again to finish;
    on a finished story it returns at once with no model calls.

    A model that cannot return valid lore (measured once per model by a short probe,
    as `automuse doctor` does; the embedded SmolLM2 today) is not asked: ingest says
    so and uses extractive summaries and NER lore (AUTOMUSE_LORE_MODE=model forces it).

    Example: automuse ingest 1342 --story pride --llm extractive
    """
    cfg = settings(ctx, llm=llm, embedder=embedder, chroma_url=chroma_url, concurrency=concurrency, chunk_size=size)
    name = check_name(story if story is not None else story_name(book))  # "" is an error, not the default
    model = get_chat_model(cfg.llm, cfg, cache=False if no_cache else None)
    emb = get_embedder(cfg.embedder, cfg)
    workers = cfg.concurrency if capable(model, "remote") else 1  # parallel calls only pay off over the network
    lore, note = lore_mode(cfg, model)
    if note:
        err_console.print(note, highlight=False, markup=False, soft_wrap=True)
    with progress_bar(extra=("chunks", rate_column("chunks")), eta="eta", transient=False, enabled=not as_json) as bar:
        tasks: list[TaskID] = []  # the bar appears with the first progress report, so a bad input is one line

        def report(done: int, total: int) -> None:
            if not tasks:
                tasks.append(bar.add_task(f"ingest {name}", total=total))
            bar.update(tasks[0], completed=done, total=total)

        result = ingest(
            cfg,
            book,
            name,
            llm=model,
            embedder=emb,
            sampling=sampling_from_settings(cfg),
            size=cfg.chunk_size,
            outline_file=outline,
            mirror=mirror,
            chroma_url=cfg.chroma_url,
            concurrency=workers,
            progress=report,
            lore=lore,
        )
    _prepare_queries(emb)
    if as_json:
        print_json(result.__dict__)
        return
    _print_result(result)


def _prepare_queries(emb: Embedder) -> None:
    """Make the embedder's fast query path now, while its model is loaded (minilm's ONNX
    export, about 2 s), so that the first query is fast; a failure only costs speed."""
    prepare = getattr(emb, "prepare_queries", None)
    if prepare is None:
        return
    try:
        prepare()
    except Exception as exc:  # noqa: BLE001 - queries fall back to sentence-transformers
        err_console.print(f"note: no ONNX query embedder ({type(exc).__name__}: {exc})", highlight=False, markup=False)


def _print_result(r: IngestResult) -> None:
    table = Table(title=f"story {r.story}", show_header=False)
    table.add_row("chunks", f"{r.chunks} ({r.new_chunks} new)")
    table.add_row("entities", str(r.entities))
    table.add_row("top", ", ".join(f"{t['name']} ({t['mentions']})" for t in r.top[:6]))
    table.add_row("time", f"{r.seconds:.1f} s")
    table.add_row("model calls", f"{r.model_calls} (+{r.cache_hits} from cache)")
    table.add_row("lore", "model" if r.lore == "model" else "extractive (summaries, NER lore, parsed relations)")
    table.add_row("store", r.path)
    console.print(table)


stories_app = typer.Typer(
    help="List the story stores (chunks, entities, backends, size), or remove one.\n\n"
    "Examples: automuse stories list    |    automuse stories rm pride --yes",
    invoke_without_command=True,
)


@stories_app.callback()
def stories_callback(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Bare ``automuse stories`` lists them, as ``stories list`` does."""
    if ctx.invoked_subcommand is None:
        list_command(ctx, as_json=as_json)


@stories_app.command("list")
def list_command(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List the story stores: chunks, entities, backends, size, fine-tunes; a damaged
    store is listed with what is wrong.

    Example: automuse stories list --json
    """
    rows = [_story_row(m) for m in list_stories(settings(ctx))]
    if as_json:
        print_json(rows)
    else:
        _print_stories(rows)


@stories_app.command("rm")
def rm_command(
    ctx: typer.Context,
    name: str = typer.Argument(..., metavar="NAME", help="The story to remove."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Remove without asking."),
) -> None:
    """Remove a story: its directory and its collections (on a Chroma server too).

    Example: automuse stories rm pride --yes
    """
    cfg = settings(ctx)
    directory = story_dir(cfg, name)
    if not yes and not typer.confirm(f"remove story {name} ({directory})?", default=False):
        raise typer.Exit(1)
    for note in remove_story(cfg, name):
        console.print(note, highlight=False)
    console.print(f"removed story {name}", highlight=False)


def _story_row(m: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": m.get("name"),
        "title": m.get("title"),
        "chunks": m.get("chunks_done", 0),
        "chunks_total": m.get("chunks_total"),
        "complete": bool(m.get("complete")),
        "entities": m.get("entities"),
        "llm": m.get("llm"),
        "embedder": (m.get("embedder") or {}).get("name"),
        "chroma_url": redact_url(m.get("chroma_url")) or None,
        "size_bytes": m.get("size_bytes", 0),
        "path": m.get("path"),
        "store_id": m.get("store_id"),
        "problem": m.get("problem"),
        "finetune_jobs": m.get("finetune_jobs", []),
    }


def _print_stories(rows: list[dict[str, Any]]) -> None:
    if not rows:
        console.print("no stories yet (automuse ingest BOOK --story NAME)")
        return
    table = Table(title="stories")

    tuned = any(r["finetune_jobs"] for r in rows)  # a "tuned" column only when some story has fine-tunes
    for col in ("name", "title", "chunks", "entities", "llm", "embedder", "size") + (("tuned",) if tuned else ()):
        table.add_column(col, overflow="fold")
    for r in rows:
        if r["problem"]:
            table.add_row(
                r["name"] or "",
                Text(r["problem"], style="red"),
                "",
                "",
                "",
                "",
                f"{r['size_bytes'] / 1e6:.1f} MB",
                *([""] if tuned else []),
            )
            continue
        chunks = f"{r['chunks']}/{r['chunks_total']}" + ("" if r["complete"] else " (unfinished)")
        ents = "" if r["entities"] is None else str(r["entities"])
        table.add_row(
            r["name"],
            r["title"] or "",
            chunks,
            ents,
            r["llm"] or "",
            r["embedder"] or "",
            f"{r['size_bytes'] / 1e6:.1f} MB",
            *([summarize_jobs(r["finetune_jobs"])] if tuned else []),
        )
    console.print(table)
    for line in (line for r in rows for line in job_lines(r["name"], r["finetune_jobs"])):
        console.print(line, highlight=False, soft_wrap=True, markup=False)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.command("ingest")(ingest_command)
    app.add_typer(stories_app, name="stories")
