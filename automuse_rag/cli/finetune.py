"""Commands: ``automuse finetune create|follow|show|list|cancel`` (a fine-tuning API:
OpenAI or any server with the same endpoints at ``OPENAI_BASE_URL``) and
``automuse finetune local`` (LoRA on this machine's CPU, in :mod:`.finetune_local`)."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from automuse_rag.cli import finetune_local
from automuse_rag.cli.common import JsonOption, console, err_console, print_json, settings
from automuse_rag.errors import AutomuseError
from automuse_rag.finetune.api import FineTuneAPI, JobFailedError
from automuse_rag.finetune.jsonl_check import (
    OPENAI_MIN_EXAMPLES,
    example_limit,
    validate_file,
)
from automuse_rag.finetune.record import record_everywhere, stories_with_job
from automuse_rag.models.tokens import OpenAITokenCounter
from automuse_rag.settings import Settings

finetune_app = typer.Typer(
    help=(
        "Fine-tune a model on a dataset from `automuse dataset`, then write with it: on a "
        "fine-tuning API (create/follow/show/list/cancel) or locally on CPU (local).\n\n"
        "Example: automuse finetune create --data train.jsonl --val train.val.jsonl --model gpt-4o-mini-2024-07-18 --wait"
    ),
    no_args_is_help=True,
)
STORY_HELP = "Record the job in this story's manifest (repeatable; default: the stories the dataset was exported from)."


def _when(stamp: int | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(stamp)) if stamp else ""


def _job_record(job: Any, data: str | None = None) -> dict[str, Any]:
    return {
        "id": job.id,
        "backend": "openai",
        "status": job.status,
        "model": job.model,
        "fine_tuned_model": job.fine_tuned_model,
        "llm": job.llm,
        "data": data,
        "created_at": job.created_at,
        "base_url": job.base_url,
    }


def _record(cfg: Settings, stories: list[str], job: Any, data: str | None = None, quiet: bool = False) -> None:
    """Record (or update) ``job`` in each story's manifest; problems are warnings."""
    done, problems = record_everywhere(cfg, stories, _job_record(job, data))
    if done and not quiet:
        console.print(f"recorded in story {', '.join(done)} (automuse stories)", highlight=False, markup=False, soft_wrap=True)
    for problem in problems:
        err_console.print(f"warning: {problem}", highlight=False, markup=False, soft_wrap=True)


def _sync(cfg: Settings, job: Any) -> None:
    """Update the job's entry in every story that recorded it."""
    stories = stories_with_job(cfg, job.id)
    if stories:
        _record(cfg, stories, job, quiet=True)


def _finished(job: Any) -> None:
    console.print(
        f"{escape(job.id)} succeeded: fine-tuned model [bold]{escape(job.fine_tuned_model)}[/bold]"
        + (f", {job.trained_tokens:,} trained tokens" if job.trained_tokens else ""),
        highlight=False,
        soft_wrap=True,
    )
    console.print(f"write with it: --llm {job.llm}", highlight=False, soft_wrap=True, markup=False)
    console.print(
        f"  e.g. automuse generate --premise PREMISE --story NAME --llm {job.llm}", highlight=False, soft_wrap=True, markup=False
    )


@contextmanager
def _ctrl_c_between_polls() -> Iterator[Callable[[float], None]]:
    """Ctrl-C while following a job takes effect between polls, not inside a print.
    Raised inside rich's console lock, a KeyboardInterrupt can leave the lock held by
    the main thread (a ``with`` interrupted right after ``__enter__``); the spinner's
    refresh thread then waits for it forever and stopping the spinner hangs. So the
    first Ctrl-C only sets a flag, and the poll's sleep raises it. A second Ctrl-C
    raises at once."""
    stop = threading.Event()

    def nap(seconds: float) -> None:
        if stop.wait(seconds):
            raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        yield nap
        return

    def on_sigint(signum: int, frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield nap
    finally:
        signal.signal(signal.SIGINT, previous)


def follow_job(cfg: Settings, api: Any, job_id: str, poll: float | None = None) -> Any:
    """Print the job's events and status until it ends. Ctrl-C detaches (the job keeps
    running) with exit code 130 and the command that reattaches."""

    def on_event(event: Any) -> None:
        console.print(
            f"[dim]{time.strftime('%H:%M:%S', time.localtime(event.created_at))}[/dim] {escape(event.message)}",
            highlight=False,
            soft_wrap=True,
        )

    state = {"status": ""}
    with console.status(f"following {job_id}") as spinner:

        def on_status(job: Any) -> None:
            tokens = f", {job.trained_tokens:,} tokens" if job.trained_tokens else ""
            eta = f", estimated finish {_when(job.estimated_finish)}" if job.estimated_finish else ""
            spinner.update(f"{job_id}: {job.status}{tokens}{eta}")
            if job.status != state["status"]:
                state["status"] = job.status
                console.print(f"status: {job.status}", highlight=False, markup=False, soft_wrap=True)

        try:
            with _ctrl_c_between_polls() as nap:
                job = api.follow(
                    job_id, on_event=on_event, on_status=on_status, poll=cfg.finetune_poll if poll is None else poll, sleep=nap
                )
        except KeyboardInterrupt:
            spinner.stop()
            err_console.print(
                f"detached from {job_id}; it keeps running on the server (not cancelled). "
                f"Reattach with: automuse finetune follow {job_id}",
                highlight=False,
                soft_wrap=True,
                markup=False,
            )
            raise typer.Exit(130) from None
        except JobFailedError:
            _sync(cfg, api.retrieve(job_id))
            raise
    _sync(cfg, job)
    _finished(job)
    return job


@finetune_app.command("create")
def create_command(
    ctx: typer.Context,
    data: Path = typer.Option(..., "--data", help="Training JSONL (chat or prompt/completion), e.g. from automuse dataset."),
    val: Path | None = typer.Option(None, "--val", help="Validation JSONL (e.g. the .val.jsonl automuse dataset wrote)."),
    model: str = typer.Option(..., "--model", help="Base model to fine-tune, e.g. gpt-4o-mini-2024-07-18."),
    suffix: str | None = typer.Option(None, "--suffix", help="Up to 64 characters added to the tuned model's name."),
    epochs: int | None = typer.Option(None, "--epochs", min=1, help="Training epochs (default: the server's choice)."),
    seed: int | None = typer.Option(None, "--seed", help="Seed for the server's training run."),
    story: list[str] | None = typer.Option(None, "--story", help=STORY_HELP),
    wait: bool = typer.Option(False, "--wait", help="Follow the job until it ends (Ctrl-C detaches, the job keeps running)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only validate the files; upload nothing."),
) -> None:
    """Validate a dataset, upload it and create a fine-tuning job (--wait follows it).

    The files are checked here first (format, roles, empty turns, tokens per example,
    the leakage audit of automuse dataset); an invalid file is never uploaded.

    Example: automuse finetune create --data pride.jsonl --val pride.val.jsonl --model gpt-4o-mini-2024-07-18 --suffix pride --wait
    """
    cfg = settings(ctx)
    counter = OpenAITokenCounter(model)
    limit = example_limit(model)
    checked = validate_file(data, count_tokens=counter.count, limit=limit, model=model, min_examples=OPENAI_MIN_EXAMPLES)
    checked_val = (
        validate_file(val, count_tokens=counter.count, limit=limit, model=model, expect_format=checked.format) if val else None
    )
    for v in filter(None, (checked, checked_val)):
        console.print(
            f"{v.path}: {v.examples} {v.format} examples, {v.tokens:,} tokens (largest {v.max_tokens:,} of {v.limit:,}; "
            f"counted with {counter.method}), leakage audit: {v.audit}",
            highlight=False,
            soft_wrap=True,
            markup=False,
        )
    if dry_run:
        console.print("valid; nothing uploaded (--dry-run)")
        return
    api = FineTuneAPI(cfg)
    training_file = api.upload(data)
    validation_file = api.upload(val) if val else None
    console.print(
        f"uploaded {data.name} as {training_file}" + (f", {val.name} as {validation_file}" if val else ""),
        highlight=False,
        markup=False,
        soft_wrap=True,
    )
    stories = list(story or checked.stories)
    metadata = {"automuse_data": data.name[:500]}
    if stories:
        metadata["automuse_stories"] = ",".join(stories)[:500]
    try:
        job = api.create(
            model=model,
            training_file=training_file,
            validation_file=validation_file,
            suffix=suffix,
            epochs=epochs,
            seed=seed,
            metadata=metadata,
        )
    except AutomuseError:
        for file_id in filter(None, (training_file, validation_file)):
            api.delete_file(file_id)  # no job will use them
        raise
    console.print(
        f"created fine-tuning job [bold]{escape(job.id)}[/bold] ({job.status}) for {escape(job.model)}",
        highlight=False,
        soft_wrap=True,
    )
    _record(cfg, stories, job, data=str(data))
    if wait:
        follow_job(cfg, api, job.id)
    else:
        console.print(f"follow it: automuse finetune follow {job.id}", highlight=False, markup=False, soft_wrap=True)


@finetune_app.command("follow")
def follow_command(
    ctx: typer.Context,
    job_id: str = typer.Argument(..., metavar="JOB", help="The job id (ftjob-...)."),
    poll: float | None = typer.Option(
        None, "--poll", min=0.0, help="Seconds between checks (env AUTOMUSE_FINETUNE_POLL, default 10)."
    ),
) -> None:
    """Follow a job until it ends, then print the tuned model's --llm value.

    Ctrl-C detaches without cancelling the job.

    Example: automuse finetune follow ftjob-abc123
    """
    cfg = settings(ctx)
    follow_job(cfg, FineTuneAPI(cfg), job_id, poll)


def _job_table(jobs: list[Any], title: str) -> Table:
    """One row per job (``list``); ``show`` gives every field of one job."""
    table = Table(title=title)
    table.add_column("job", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("base model", overflow="fold")
    table.add_column("fine-tuned model", overflow="fold")
    table.add_column("created", no_wrap=True)
    for j in jobs:
        table.add_row(*(Text(str(v)) for v in (j.id, j.status, j.model, j.fine_tuned_model or "", _when(j.created_at))))
    return table


def _job_fields(job: Any) -> Table:
    table = Table(title=f"fine-tuning job {job.id}", show_header=False)
    table.add_column("field", no_wrap=True)
    table.add_column("value", overflow="fold")
    rows = [
        ("status", job.status),
        ("base model", job.model),
        ("fine-tuned model", job.fine_tuned_model),
        ("trained tokens", f"{job.trained_tokens:,}" if job.trained_tokens else None),
        ("epochs", job.epochs),
        ("created", _when(job.created_at)),
        ("finished", _when(job.finished_at)),
        ("estimated finish", _when(job.estimated_finish)),
        ("training file", job.training_file),
        ("validation file", job.validation_file),
        ("error", job.error),
        ("server", job.base_url),
    ]
    for name, value in rows:
        if value not in (None, ""):
            table.add_row(name, Text(str(value)))
    return table


@finetune_app.command("show")
def show_command(
    ctx: typer.Context,
    job_id: str = typer.Argument(..., metavar="JOB", help="The job id (ftjob-...)."),
    as_json: JsonOption = False,
) -> None:
    """A job's status, trained tokens, tuned model and error.

    Example: automuse finetune show ftjob-abc123 --json
    """
    cfg = settings(ctx)
    job = FineTuneAPI(cfg).retrieve(job_id)
    _sync(cfg, job)
    if as_json:
        print_json(job.to_dict())
        return
    console.print(_job_fields(job))
    if job.llm:
        console.print(f"write with it: --llm {job.llm}", highlight=False, soft_wrap=True, markup=False)


@finetune_app.command("list")
def list_command(
    ctx: typer.Context,
    limit: int = typer.Option(20, "--limit", min=1, max=100, help="How many of the latest jobs."),
    as_json: JsonOption = False,
) -> None:
    """The latest fine-tuning jobs on the server, newest first.

    Example: automuse finetune list --json
    """
    cfg = settings(ctx)
    api = FineTuneAPI(cfg)
    jobs = api.list(limit)
    if as_json:
        print_json([j.to_dict() for j in jobs])
    elif not jobs:
        console.print(f"no fine-tuning jobs at {api.url}", highlight=False, markup=False, soft_wrap=True)
    else:
        console.print(_job_table(jobs, f"fine-tuning jobs at {api.url}"))


@finetune_app.command("cancel")
def cancel_command(
    ctx: typer.Context,
    job_id: str = typer.Argument(..., metavar="JOB", help="The job id (ftjob-...)."),
) -> None:
    """Cancel a job that has not ended.

    Example: automuse finetune cancel ftjob-abc123
    """
    cfg = settings(ctx)
    job = FineTuneAPI(cfg).cancel(job_id)
    _sync(cfg, job)
    console.print(f"{job.id}: {job.status}", highlight=False, markup=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    finetune_local.register(finetune_app)
    app.add_typer(finetune_app, name="finetune")
