"""Command: ``automuse finetune local`` (LoRA of the embedded SmolLM2 on this machine's CPU)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from automuse_rag.cli.common import console, err_console, settings
from automuse_rag.cli.progress import progress_bar
from automuse_rag.errors import InputError
from automuse_rag.finetune.checkpoint import check_start, latest
from automuse_rag.finetune.gguf_merge import DTYPES
from automuse_rag.finetune.local import LocalOptions, train_local
from automuse_rag.finetune.record import record_everywhere


def _fmt_eta(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def local_command(
    ctx: typer.Context,
    data: Path = typer.Option(..., "--data", help="Training JSONL (chat or prompt/completion), e.g. from automuse dataset."),
    out: Path = typer.Option(..., "--out", help="Directory for the adapter, the merged GGUF and report.json."),
    val: Path | None = typer.Option(None, "--val", help="Validation JSONL (default: hold out --val-fraction of --data)."),
    steps: int = typer.Option(60, "--steps", min=1, help="Optimizer steps."),
    lr: float = typer.Option(5e-4, "--lr", help="Peak learning rate (linear warm-up, cosine decay to 10%)."),
    rank: int = typer.Option(8, "--rank", min=1, help="LoRA rank."),
    alpha: float | None = typer.Option(None, "--alpha", help="LoRA alpha (default: 2 x rank)."),
    batch: int = typer.Option(1, "--batch", min=1, help="Examples per step."),
    val_fraction: float = typer.Option(
        0.1, "--val-fraction", min=0.0, max=0.9, help="Share of --data held out when no --val is given."
    ),
    max_length: int = typer.Option(1024, "--max-length", min=64, help="Tokens per example; longer prompts lose their start."),
    eval_every: int = typer.Option(0, "--eval-every", min=0, help="Validation every N steps (default: a fifth of the steps)."),
    targets: str = typer.Option("all", "--targets", help="LoRA on 'all' linear layers or only 'attn' (attention)."),
    gguf_dtype: str = typer.Option(
        "f16",
        "--gguf-dtype",
        help="Type of the merged (LoRA-adapted) tensors in the GGUF: f16 (about 240 MB) or f32 (about 460 MB).",
    ),
    precision: str = typer.Option(
        "auto",
        "--precision",
        help="Training math: bf16 (autocast, about 2x faster where the CPU has bf16 instructions), fp32, or auto. Validation is always fp32.",
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the split, the example order and the adapter's initialisation."),
    threads: int | None = typer.Option(
        None, "--threads", min=1, help="CPU threads (env AUTOMUSE_N_THREADS; default: all cores)."
    ),
    story: list[str] | None = typer.Option(
        None, "--story", help="Record the run in this story's manifest (default: the dataset's stories)."
    ),
    checkpoint_every: int = typer.Option(
        25, "--checkpoint-every", min=0, help="Save a checkpoint to DIR/checkpoints every N steps (the last 2 kept; 0: none)."
    ),
    resume: bool = typer.Option(
        False, "--resume", help="Go on from the latest checkpoint in --out (same options and data as the run that made it)."
    ),
) -> None:
    """LoRA fine-tune of the embedded SmolLM2-135M-Instruct on this machine's CPU.

    Starts from the GGUF the project ships, prints loss and ETA, writes DIR/adapter,
    DIR/*.gguf (the merged model) and DIR/report.json, and ends with the --llm value
    that makes generate, complete and compare use the tuned model. A checkpoint goes to
    DIR/checkpoints every --checkpoint-every steps; after a kill or Ctrl-C, the same
    command with --resume goes on from the latest and ends as an unbroken run would.

    Example: automuse finetune local --data pride.jsonl --out tuned/pride --steps 60
    """
    if gguf_dtype not in DTYPES:
        raise InputError(f"--gguf-dtype must be one of {', '.join(DTYPES)}")
    cfg = settings(ctx, n_threads=threads)
    options = LocalOptions(
        steps=steps,
        lr=lr,
        rank=rank,
        alpha=alpha,
        batch=batch,
        max_length=max_length,
        val_fraction=val_fraction,
        eval_every=eval_every,
        seed=seed,
        targets=targets,
        gguf_dtype=gguf_dtype,
        precision=precision,
        checkpoint_every=checkpoint_every,
    )
    options.check()
    check_start(out, resume)  # before torch loads: no checkpoint to resume is a quick error
    bar = progress_bar("step", extra=("{task.fields[info]}",), transient=False)
    task = bar.add_task("train", total=steps, info="")

    def progress(kind: str, details: dict[str, Any]) -> None:
        if kind == "stage":
            bar.console.print(details["message"], highlight=False, markup=False)
        elif kind == "eval":
            what = "base model" if details["step"] == 0 else f"step {details['step']}"
            bar.console.print(
                f"validation NLL/token {details['val_nll']:.4f} ({what}, {details['tokens']} tokens, {details['seconds']:.0f}s)",
                highlight=False,
            )
        elif kind == "step":
            bar.start()
            bar.update(
                task,
                completed=details["step"],
                info=(
                    f"loss {details['loss']:.4f}  lr {details['lr']:.1e}  {details['seconds']:.1f}s/step  ETA {_fmt_eta(details['eta'])}"
                ),
            )

    try:
        result = train_local(cfg, data, out, options, val=val, progress=progress, resume=resume)
    finally:
        bar.stop()
    report = result.report
    base, final = report.get("base_val_nll"), report.get("final_val_nll")
    if base is not None and final is not None:
        console.print(f"validation NLL/token: base {base:.4f} -> tuned {final:.4f} ({final - base:+.4f})", highlight=False)
    console.print(
        f"{report['steps_done']} steps, {report['seconds_per_step'] or 0:.1f} s/step; wrote {result.adapter}, "
        f"{result.gguf} and {Path(result.out) / 'report.json'}",
        highlight=False,
        soft_wrap=True,
        markup=False,
    )
    stories = list(story or report["data"].get("stories") or [])
    if stories:
        job = {
            "id": f"local:{Path(result.gguf).stem}",
            "backend": "local",
            "status": "interrupted" if report["interrupted"] else "succeeded",
            "model": "SmolLM2-135M-Instruct",
            "llm": result.llm,
            "data": str(data),
            "out": str(result.out),
        }
        done, problems = record_everywhere(cfg, stories, job)
        if done:
            console.print(f"recorded in story {', '.join(done)} (automuse stories)", highlight=False, markup=False)
        for problem in problems:
            err_console.print(f"warning: {problem}", highlight=False, markup=False)
    console.print(f"write with it: --llm {result.llm}", highlight=False, soft_wrap=True, markup=False)
    console.print(
        f"  e.g. automuse generate --premise PREMISE --story NAME --llm {result.llm}",
        highlight=False,
        soft_wrap=True,
        markup=False,
    )
    if report["interrupted"]:
        saved = latest(out)
        again = f"; the same command with --resume goes on from {saved}" if saved else ""
        err_console.print(
            f"interrupted after {report['steps_done']} steps; the partial adapter and model were saved{again}",
            highlight=False,
            soft_wrap=True,
            markup=False,
        )
        raise typer.Exit(130)


def register(app: typer.Typer) -> None:
    app.command("local")(local_command)
