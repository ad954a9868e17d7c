"""Commands: ``compare`` (retrieval vs rolling summaries) and ``graph`` (character graph)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from automuse_rag.cli.common import REQUIRED, BudgetOption, LlmOption, StoryOption, console, print_json, settings
from automuse_rag.cli.progress import progress_bar
from automuse_rag.compare import run_compare
from automuse_rag.compare.graph_files import write_graph
from automuse_rag.compare.metrics import has_logprobs
from automuse_rag.compare.report import fmt_value, resummary_lines
from automuse_rag.errors import InputError
from automuse_rag.locations import check_output_dir, check_output_file
from automuse_rag.memory.story import StoryMemory
from automuse_rag.models.registry import get_chat_model

DEFAULT_NLL_SAMPLES = 20


def open_story(cfg: Any, name: str) -> Any:
    """The stored story NAME (raises StoreError when it does not exist)."""
    return StoryMemory.open(cfg, name)


def _fmt(value: Any, digits: int = 3) -> str:
    return fmt_value(value, digits, missing="-")


def summary_table(report: Any) -> Table:
    from rich import box

    table = Table(
        title=f"{report.story}: budget {report.budget} tokens, {len(report.positions)} positions",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    table.add_column("strategy", no_wrap=True)
    for col in (
        "tokens\nmean/max",
        "over\nbudget",
        "first\nover",
        "entity\nrecall",
        "NLL",
        "NLL vs\nlast_chunk",
        "memory\ncalls/tok",
        "embed",
    ):
        table.add_column(col, justify="right", no_wrap=True)
    for row in report.summary_rows() + report.summary_rows(ablations=True):
        paired = row["nll_vs_last_chunk"]
        table.add_row(
            row["strategy"],
            f"{_fmt(row['mean_prompt_tokens'], 0)}/{_fmt(row['max_prompt_tokens'])}",
            f"{row['over_budget_count']}/{row['positions']}",
            _fmt(row["first_over_budget"]),
            _fmt(row["mean_entity_recall"]),
            _fmt(row["mean_nll"]),
            "-"
            if not paired
            else f"{paired['mean_diff']:+.3f}"
            + (f" [{paired['ci95'][0]:+.3f}, {paired['ci95'][1]:+.3f}]" if paired["ci95"] else ""),
            f"{row['final_memory_calls']}/{row['final_memory_tokens']}",
            str(row["final_memory_embeddings"]),
        )
    return table


def compare(
    ctx: typer.Context,
    story: StoryOption = REQUIRED,
    budget: BudgetOption = None,
    positions: str = typer.Option(
        "all",
        "--positions",
        "-p",
        help="Chunk positions i to evaluate: 'all' (at most --max-positions, evenly sampled), 'START:STOP', "
        "'START:STOP:STEP' or 'I,J,K'. Position i is the context for predicting chunk i+1.",
    ),
    nll_samples: int | None = typer.Option(
        None,
        "--nll-samples",
        "-n",
        help="Positions (evenly spread) where the next chunk's NLL is scored; 0 skips it "
        "(default: 20 with a model that gives log-probabilities, else 0).",
    ),
    out: Path | None = typer.Option(None, "--out", "-o", help="Report directory (default: ./compare-STORY-BUDGET)."),
    llm: LlmOption = None,
    resummarizer: str = typer.Option(
        "auto",
        "--resummarizer",
        help="rolling_recursive's re-summarizer: auto (the LLM, extractive for --llm extractive), llm, extractive.",
    ),
    max_positions: int = typer.Option(300, "--max-positions", help="Cap for --positions all (evenly sampled)."),
    n_ctx: int | None = typer.Option(
        None,
        "--n-ctx",
        help="Context window of the local model used for NLL (default: budget + 1024, room for "
        "a prompt and the next chunk; longer contexts are cut from the left for scoring).",
    ),
    plots: bool = typer.Option(True, "--plots/--no-plots", help="Write the PNG plots."),
    ablations: bool = typer.Option(
        True,
        "--ablations/--no-ablations",
        help="Also run retrieval without graph neighbours, without vector search, without recency, and with "
        "named entities only (report.json's 'ablations').",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print report.json's content instead of the table."),
) -> None:
    """Compare retrieval with rolling summaries on a stored story.

    For each position i, four strategies build the context for predicting chunk i+1:
    rolling_unbounded (outline + every summary so far + last chunk), rolling_recursive
    (a running summary re-summarized to fill the room the budget leaves for memory),
    retrieval (the assembler) and last_chunk (outline + last chunk); every one keeps
    the last chunk whole before adding memory. Reports prompt tokens and over-budget
    counts, entity recall, memory cost and next-chunk NLL with its paired difference
    from last_chunk (bootstrap 95% interval), plus retrieval's ablations; writes
    report.md, report.json and PNG plots.

    Example: automuse compare --story pp --budget 1024 --nll-samples 20 --out docs/compare/pp-1024
    """
    cfg = settings(ctx, llm=llm, budget=budget)
    cfg = settings(ctx, llm=llm, budget=cfg.budget, n_ctx=n_ctx or cfg.budget + 1024)
    out_dir = check_output_dir(out or Path(f"compare-{story}-{cfg.budget}"), "--out")  # before the long run
    model = get_chat_model(cfg.llm, cfg)
    if nll_samples is None:
        nll_samples = DEFAULT_NLL_SAMPLES if has_logprobs(model) else 0
    with open_story(cfg, story) as memory, _progress(quiet=as_json) as progress:
        report = run_compare(
            memory,
            llm=model,
            budget=cfg.budget,
            positions=positions,
            nll_samples=nll_samples,
            out_dir=out_dir,
            progress=progress,
            resummarizer=resummarizer,
            max_positions=max_positions,
            plots=plots,
            ablations=ablations,
        )
    if as_json:
        print_json(report.to_dict())
        return
    console.print(summary_table(report))
    for line in resummary_lines(report):
        console.print(line)
    for note in report.notes:
        console.print(f"note: {note}")
    console.print(f"wrote {', '.join(sorted(report.files.values()))}")


class _progress:
    """A rich progress bar fed by run_compare's ``progress(stage, done, total)``."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self._bar: Any = None
        self._tasks: dict[str, Any] = {}

    def __enter__(self) -> _progress | None:
        if self.quiet:
            return None
        self._bar = progress_bar()
        self._bar.__enter__()
        return self

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage not in self._tasks:
            self._tasks[stage] = self._bar.add_task(stage, total=total)
        self._bar.update(self._tasks[stage], completed=done)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)


def graph(
    ctx: typer.Context,
    story: StoryOption = REQUIRED,
    out: Path = typer.Option(..., "--out", "-o", help="FILE.graphml (for Gephi) or FILE.png (a picture)."),
    at: int | None = typer.Option(None, "--at", help="Chunk index: the graph as known after it (default: the end)."),
    as_json: bool = typer.Option(False, "--json", help="Print nodes/edges counts and the file as JSON."),
) -> None:
    """Write a story's character graph as of a chunk, as GraphML or PNG.

    Nodes are characters and places (name, kind, aliases, mentions); edges join
    entities that co-occur in a chunk or that the model related, weighted by the
    number of chunks. Nothing after --at is used.

    Example: automuse graph --story pp --at 120 --out pp-120.graphml
    """
    if out.suffix.lower() not in (".graphml", ".png"):
        raise InputError(f"--out must end in .graphml or .png, got {out.name!r}")
    cfg = settings(ctx)
    out = check_output_file(out, "--out", suggest=f"{story}.graphml")
    with open_story(cfg, story) as memory:
        g = (memory.latest() if at is None else memory.at(at)).graph()
    where = "the end" if at is None else f"chunk {at}"
    write_graph(g, out, title=f"{story}: character graph as of {where}")
    info = {"story": story, "at": at, "nodes": g.number_of_nodes(), "edges": g.number_of_edges(), "file": str(out)}
    if as_json:
        print_json(info)
    else:
        console.print(f"wrote {out}: {info['nodes']} entities, {info['edges']} edges (as of {where})")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.command("compare")(compare)
    app.command("graph")(graph)
