"""Commands: ``automuse complete`` (one completion) and ``automuse doctor`` (backend checks)."""

from __future__ import annotations

import typer
from rich.table import Table

from automuse_rag.cli.common import (
    EMBEDDER_HELP,
    LLM_HELP,
    LlmOption,
    NoCacheOption,
    SeedOption,
    TemperatureOption,
    TopPOption,
    console,
    print_json,
    settings,
)
from automuse_rag.doctor import Check, run_checks, versions
from automuse_rag.models.base import sampling_from_settings
from automuse_rag.models.registry import get_chat_model


def complete_command(
    ctx: typer.Context,
    prompt: str = typer.Argument(..., metavar="PROMPT", help="The user message."),
    llm: LlmOption = None,
    system: str | None = typer.Option(None, "--system", help="An optional system message."),
    max_tokens: int | None = typer.Option(
        None, "--max-tokens", min=1, help="Tokens to generate (env AUTOMUSE_MAX_TOKENS; default 512)."
    ),
    temperature: TemperatureOption = None,
    top_p: TopPOption = None,
    seed: SeedOption = None,
    stop: list[str] | None = typer.Option(None, "--stop", help="Stop sequence (repeatable)."),
    no_cache: NoCacheOption = False,
    as_json: bool = typer.Option(
        False, "--json", help="Print {model, completion, cached, calls, prompt_tokens, completion_tokens}."
    ),
) -> None:
    """Print one completion of PROMPT: the quickest manual check of a backend.

    Answers repeat from the call cache (stores/.cache/calls.sqlite) unless --no-cache.

    Example: automuse complete "Write one sentence about a lighthouse." --max-tokens 40
    """
    cfg = settings(ctx, llm=llm, max_tokens=max_tokens, temperature=temperature, top_p=top_p, seed=seed)
    sampling = sampling_from_settings(cfg).with_(stop=tuple(stop or ()))
    model = get_chat_model(cfg.llm, cfg, cache=False if no_cache else None)
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
    text = model.chat(messages, sampling)
    if as_json:
        print_json(
            {
                "model": model.name,
                "completion": text,
                "cached": bool(getattr(model, "cache_hits", 0)),
                "calls": getattr(model, "calls", 1),
                "prompt_tokens": getattr(model, "prompt_tokens", None),
                "completion_tokens": getattr(model, "completion_tokens", None),
            }
        )
        return
    console.print(text, highlight=False, markup=False)


def doctor_command(
    ctx: typer.Context,
    llm: list[str] | None = typer.Option(None, "--llm", help=LLM_HELP + " Repeat to check several."),
    embedder: list[str] | None = typer.Option(None, "--embedder", help=EMBEDDER_HELP + " Repeat to check several."),
    reprobe: bool = typer.Option(False, "--reprobe", help="Run the lore probe again even if this model's result is recorded."),
    as_json: bool = typer.Option(False, "--json", help="Print {ok, checks: [...], versions: {...}}."),
) -> None:
    """Check each configured backend: does it load and answer one short call?

    Prints one row per backend (status, what it answered, model files found, time and a
    fix for each failure) and the installed versions. Exit code 1 when any check fails.
    A chat model with structured output also gets the lore probe: can it return valid
    lore for a few fixed passages? The result is recorded per model (server URL or
    model file) in stores/.cache/capabilities.json and decides what ingest asks it.

    Example: automuse doctor --llm local --llm openai:gpt-4o-mini
    """
    cfg = settings(ctx)
    checks = run_checks(cfg, llm or None, embedder or None, reprobe=reprobe)
    ok = all(c.ok for c in checks)
    if as_json:
        print_json({"ok": ok, "checks": [c.as_dict() for c in checks], "versions": versions()})
    else:
        _print_doctor(checks, versions())
    if not ok:
        raise typer.Exit(1)


def _print_doctor(checks: list[Check], found_versions: dict[str, str]) -> None:
    table = Table(title="backends")
    for column in ("kind", "spec", "status", "detail", "files", "seconds"):
        table.add_column(column, overflow="fold")
    for c in checks:
        status = "[green]ok[/green]" if c.ok else "[red]FAIL[/red]"
        detail = c.detail if c.ok else f"{c.detail}\nfix: {c.fix}" if c.fix else c.detail
        table.add_row(c.kind, c.spec, status, detail, "\n".join(c.files), f"{c.seconds:.1f}")
    console.print(table)
    console.print("versions: " + ", ".join(f"{k} {v}" for k, v in found_versions.items()), highlight=False)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.command("complete")(complete_command)
    app.command("doctor")(doctor_command)
