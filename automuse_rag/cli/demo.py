"""Command: ``automuse demo`` — the main job end to end, offline, on the embedded defaults."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from automuse_rag import books
from automuse_rag.assemble import build_prompt
from automuse_rag.cli.common import EmbedderOption, LlmOption, console, settings
from automuse_rag.cli.compare import summary_table
from automuse_rag.cli.progress import progress_bar
from automuse_rag.compare.run import run_compare
from automuse_rag.finetune.dataset import export_dataset
from automuse_rag.generate.loop import generate_story
from automuse_rag.lore.probe import lore_mode
from automuse_rag.memory.ingest import ingest
from automuse_rag.memory.story import StoryMemory
from automuse_rag.models.base import sampling_from_settings
from automuse_rag.models.registry import get_chat_model, get_embedder
from automuse_rag.text.chunk import chunk_book

if TYPE_CHECKING:
    from rich.progress import Progress

SAMPLE_STORY = "sample"
DEMO_NOVEL = "demo-novel"


def _progress() -> Progress:
    return progress_bar(eta="", console=console)


def demo_command(
    ctx: typer.Context,
    llm: LlmOption = None,
    embedder: EmbedderOption = None,
    budget: int = typer.Option(1024, "--budget", min=64, help="Prompt token budget used by the demo."),
    gen_chunks: int = typer.Option(
        3, "--gen-chunks", min=0, help="Chunks to generate from the shipped premise (0 skips generation)."
    ),
    nll_samples: int = typer.Option(
        2, "--nll-samples", min=0, help="Positions scored by next-chunk likelihood in the compare step."
    ),
) -> None:
    """Run the main job end to end on the sample story, offline.

    1. cleans and chunks the project's sample story (books/sample/story.txt);
    2. ingests it into story memory (summaries and lore in Chroma, a character graph);
    3. assembles a token-budgeted prompt and exports a fine-tuning dataset;
    4. generates a few chunks of a new story from books/sample/premise.txt;
    5. compares retrieval with rolling summaries and writes a report with plots.

    Everything is stored under $AUTOMUSE_HOME/stores (default ./stores). Running it
    again reuses what is stored and makes no repeated model calls.

    Example: automuse demo
    """
    cfg = settings(ctx, llm=llm, embedder=embedder)
    started = time.monotonic()
    outputs: list[tuple[str, str, str]] = []  # step, what, where

    # 1. Clean and chunk.
    story_path = books.sample_story_path()
    book = books.load_book(str(story_path), cfg)
    chunks = chunk_book(book, SAMPLE_STORY, size=cfg.chunk_size)
    chapters = sum(1 for c in book.chapters if c.number > 0)
    console.print(
        f"[bold]1. chunk[/bold]  {book.title}: {len(book.text):,} characters, {chapters} chapters, {len(chunks)} chunks"
    )
    outputs.append(("chunk", f"{chapters} chapters, {len(chunks)} chunks of ≤ {cfg.chunk_size} characters", str(story_path)))

    # 2. Ingest.
    console.print(f"[bold]2. ingest[/bold] with --llm {cfg.llm} and --embedder {cfg.embedder} (first run loads the models)")
    model = get_chat_model(cfg.llm, cfg)
    emb = get_embedder(cfg.embedder, cfg)
    sampling = sampling_from_settings(cfg)

    lore, note = lore_mode(cfg, model)  # a model that cannot return valid lore is not asked
    if note:
        console.print("   " + note, highlight=False, markup=False)
    with _progress() as bar:
        task = bar.add_task("ingesting", total=len(chunks))
        result = ingest(
            cfg,
            str(story_path),
            SAMPLE_STORY,
            llm=model,
            embedder=emb,
            sampling=sampling,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
            lore=lore,
        )
    top = ", ".join(t["name"] for t in result.top[:6])
    console.print(
        f"   {result.chunks} chunks stored ({result.new_chunks} new), {result.entities} entities, "
        f"{result.model_calls} model calls in {result.seconds:.1f}s; top: {top}"
    )
    outputs.append(("ingest", f"{result.chunks} chunks, {result.entities} entities ({top})", result.path))

    # 3. Assemble a prompt and export the fine-tuning dataset.
    memory = StoryMemory.open(cfg, SAMPLE_STORY, embedder=emb)
    try:
        at = len(memory) // 2
        prompt = build_prompt(memory.at(at), budget=budget, count_tokens=model.count_tokens)
        fates = {f: sum(d.fate == f for d in prompt.decisions) for f in ("included", "shortened", "dropped")}
        prompt_path = Path(result.path) / f"prompt-{at}.txt"
        prompt_path.write_text(prompt.text, encoding="utf-8")
        console.print(
            f"[bold]3. prompt[/bold]   at chunk {at}: {prompt.tokens} of {budget} tokens; candidates "
            f"{fates['included']} included, {fates['shortened']} shortened, {fates['dropped']} dropped"
        )
        outputs.append(("prompt", f"prompt before chunk {at + 1}: {prompt.tokens}/{budget} tokens", str(prompt_path)))
        out = Path(result.path) / "dataset.jsonl"
        with _progress() as bar:
            task = bar.add_task("dataset", total=len(memory))
            summary = export_dataset(
                [memory],
                out,
                budget=budget,
                count_tokens=model.count_tokens,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
        console.print(
            f"   dataset: {summary.samples} samples ({summary.train} train, {summary.validation} validation), "
            f"prompt tokens max {summary.prompt_tokens.get('max', 0):.0f}, leakage violations {summary.leakage_violations}"
        )
        outputs.append(("dataset", f"{summary.samples} samples, {summary.leakage_violations} leaks", summary.train_path))

        # 4. Generate from the shipped premise.
        if gen_chunks:
            premise = books.sample_story_path().parent / "premise.txt"
            console.print(f"[bold]4. generate[/bold] {gen_chunks} chunks from {premise.name} with --llm {cfg.llm}")
            with _progress() as bar:
                task = bar.add_task("writing", total=gen_chunks)
                gen = generate_story(
                    cfg,
                    DEMO_NOVEL,
                    str(premise),
                    chunks=gen_chunks,
                    llm=model,
                    budget=budget,
                    embedder=emb,
                    progress=lambda p: bar.update(task, completed=p.done, total=p.total),
                )
            console.print(
                f"   {gen.chunks} chunks, {gen.words} words, {gen.rejections} candidates rejected by the guard"
                + (" (plan fell back to the premise)" if gen.plan_fallback else "")
            )
            outputs.append(("generate", f"{gen.chunks} chunks, {gen.words} words", gen.manuscript))

        # 5. Compare retrieval with rolling summaries.
        compare_dir = Path(result.path) / "compare"
        console.print(f"[bold]5. compare[/bold] retrieval vs rolling summaries at {budget} tokens")
        with _progress() as bar:
            task = bar.add_task("comparing", total=None)
            report = run_compare(
                memory,
                llm=model,
                budget=budget,
                nll_samples=nll_samples,
                out_dir=compare_dir,
                ablations=False,
                progress=lambda _stage, done, total: bar.update(task, completed=done, total=total),
            )
        console.print(summary_table(report))
        outputs.append(("compare", "report.md, report.json and plots", str(compare_dir)))
    finally:
        memory.close()

    done = Table(title=f"demo finished in {time.monotonic() - started:.0f}s")
    done.add_column("step")
    done.add_column("result")
    done.add_column("output", overflow="fold")
    for row in outputs:
        done.add_row(*row)
    console.print(done)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo_command)
