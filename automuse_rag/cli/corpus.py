"""Command: ``automuse corpus ingest SPEC...``: many books on Ray, each its own story."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.table import Table

from automuse_rag.cli.common import (
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
from automuse_rag.cli.progress import progress_bar
from automuse_rag.corpus.commit import BookResult
from automuse_rag.corpus.run import CorpusOptions, CorpusReport, Events, run_corpus
from automuse_rag.corpus.specs import expand_specs
from automuse_rag.models.registry import get_chat_model, get_embedder

if TYPE_CHECKING:
    from rich.progress import TaskID

corpus_app = typer.Typer(
    help="Work on many books at once, on Ray (a local instance, or the cluster at --ray-address / RAY_ADDRESS).\n\n"
    "Example: automuse corpus ingest 1300-1310 books/*.txt --llm extractive",
    no_args_is_help=True,
)


@corpus_app.command("ingest")
def ingest_command(
    ctx: typer.Context,
    specs: list[str] = typer.Argument(
        ...,
        metavar="SPEC",
        help="Catalog names, Gutenberg IDs or ranges (1300-1400), .txt/.epub files, directories, globs, @LIST (a SPEC a line).",
    ),
    workers: int | None = typer.Option(None, "--workers", "-w", min=1, help="Worker actors (default: one per CPU)."),
    ray_address: str | None = typer.Option(
        None, "--ray-address", help="Join this Ray cluster (env RAY_ADDRESS; default: start a local instance)."
    ),
    llm: LlmOption = None,
    embedder: EmbedderOption = None,
    chroma_url: ChromaUrlOption = None,
    concurrency: int | None = typer.Option(
        None, "--concurrency", min=1, help="Parallel model calls per worker with a remote (openai:*) backend (default 4)."
    ),
    size: int | None = typer.Option(None, "--size", min=100, help="Characters per chunk (default 1500)."),
    mirror: str | None = typer.Option(None, "--mirror", help="Gutenberg mirror: URL or directory with cache/epub/ID/pgID.txt."),
    no_cache: NoCacheOption = False,
    as_json: JsonOption = False,
) -> None:
    """Ingest many books, each into its own story (named from the catalog or the file),
    on a pool of Ray workers that load their models once; one writer per store.

    Each store equals what `automuse ingest` of that book alone writes. Resumable:
    kill it and run it again; finished books are skipped at once, a half-done one
    continues after its last committed chunk, and answered model calls come from the
    cache. A book that cannot be read is one line in the summary; the others finish
    and the exit code is 1.

    Example: automuse corpus ingest pride emma 1300-1310 shelf/ --llm extractive --workers 2
    """
    cfg = settings(ctx, llm=llm, embedder=embedder, chroma_url=chroma_url, concurrency=concurrency, chunk_size=size)
    books = expand_specs(specs, cfg)  # every SPEC and name checked before any work
    model = get_chat_model(cfg.llm, cfg, cache=False if no_cache else None)
    emb = get_embedder(cfg.embedder, cfg)
    options = CorpusOptions(workers=workers, ray_address=ray_address, no_cache=no_cache, size=cfg.chunk_size, mirror=mirror)
    with progress_bar(extra=("{task.fields[books]}",), eta="eta", transient=False, enabled=not as_json) as bar:
        tasks: list[TaskID] = []

        def progress(books_done: int, books_total: int, done: int, total: int) -> None:
            if not tasks:
                tasks.append(bar.add_task("chunks", total=max(total, 1), books=""))
            bar.update(tasks[0], completed=done, total=max(total, done, 1), books=f"books {books_done}/{books_total}")

        def book_done(r: BookResult) -> None:
            if not as_json:
                bar.console.print(_book_line(r), highlight=False, markup=False, soft_wrap=True)

        def note(text: str) -> None:
            err_console.print(text, highlight=False, markup=False, soft_wrap=True)

        report = run_corpus(cfg, books, options, llm=model, embedder=emb, events=Events(progress, book_done, note))
    if as_json:
        print_json(report.as_dict())
    else:
        _print_report(report)
    if report.failed:
        raise typer.Exit(1)


def _book_line(r: BookResult) -> str:
    if r.status == "failed":
        return f"{r.name}: failed: {r.error}"
    if r.status == "skipped":
        return f"{r.name}: already ingested ({r.chunks} chunks)"
    return (
        f"{r.name}: {r.chunks} chunks ({r.new_chunks} new), {r.entities} entities, {r.seconds:.1f} s, "
        f"{r.model_calls} model calls (+{r.cache_hits} from cache)"
    )


def _print_report(report: CorpusReport) -> None:
    data = report.as_dict()
    table = Table(title="corpus", show_header=False)
    counts = {s: sum(1 for b in report.books if b.status == s) for s in ("done", "skipped", "failed")}
    table.add_row("books", f"{counts['done']} ingested, {counts['skipped']} already done, {counts['failed']} failed")
    table.add_row("chunks", f"{data['chunks']} new ({data['chunks_per_second']:.1f}/s)")
    table.add_row("time", f"{report.seconds:.1f} s ({report.commit_seconds:.1f} s committing)")
    table.add_row("workers", str(report.workers))
    table.add_row("lore", report.lore)
    console.print(table)
    for b in report.failed:
        console.print(_book_line(b), highlight=False, markup=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.add_typer(corpus_app, name="corpus")
