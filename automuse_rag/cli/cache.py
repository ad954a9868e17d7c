"""Commands: ``automuse cache stats`` and ``automuse cache clear`` (the model call
cache, ``stores/.cache/calls.sqlite``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.table import Table

from automuse_rag.cli.common import console, print_json, settings
from automuse_rag.models.cache import CallCache

if TYPE_CHECKING:  # the cache module is imported when a command runs
    from automuse_rag.models.cache import CacheStats, CallCache

cache_app = typer.Typer(
    help=(
        "The model call cache (stores/.cache/calls.sqlite): repeated calls are answered from it. "
        "It is kept under AUTOMUSE_CACHE_MAX_MB (default 512); the least recently used answers go first.\n\n"
        "Examples: automuse cache stats    |    automuse cache clear --yes"
    ),
    no_args_is_help=True,
)


def _cache(ctx: typer.Context) -> CallCache:
    cfg = settings(ctx)
    return CallCache(cfg.cache_path, cfg.cache_max_bytes)


def _mb(n: int | None) -> str:
    return "no limit" if n is None else f"{n / 2**20:.2f} MB"  # the MB of AUTOMUSE_CACHE_MAX_MB (2**20 bytes)


@cache_app.command("stats")
def stats_command(
    ctx: typer.Context,
    as_json: bool = typer.Option(
        False, "--json", help="Print {path, entries, bytes, file_bytes, max_bytes, oldest, last_used, models: [...]}."
    ),
) -> None:
    """How many answers the cache holds, its size against the limit, and a row per
    model and call kind.

    Example: automuse cache stats --json
    """
    cfg = settings(ctx)
    if not cfg.cache_path.is_file():
        data: CacheStats = {
            "path": str(cfg.cache_path),
            "entries": 0,
            "bytes": 0,
            "file_bytes": 0,
            "max_bytes": cfg.cache_max_bytes,
            "oldest": None,
            "last_used": None,
            "models": [],
        }
    else:
        cache = _cache(ctx)
        try:
            data = cache.stats()
        finally:
            cache.close()
    if as_json:
        print_json(data)
        return
    table = Table(
        title=f"call cache: {data['entries']} answers, {_mb(data['bytes'])} of {_mb(data['max_bytes'])} "
        f"({_mb(data['file_bytes'])} on disk)"
    )
    for col in ("model", "kind", "answers", "size", "prompt tokens", "completion tokens"):
        table.add_column(col, overflow="fold")
    for row in data["models"]:
        table.add_row(
            row["model"],
            row["kind"],
            str(row["entries"]),
            _mb(row["bytes"]),
            str(row["prompt_tokens"]),
            str(row["completion_tokens"]),
        )
    console.print(table)
    console.print(f"file: {data['path']}", highlight=False, markup=False, soft_wrap=True)


@cache_app.command("clear")
def clear_command(
    ctx: typer.Context,
    yes: bool = typer.Option(False, "--yes", "-y", help="Clear without asking."),
    as_json: bool = typer.Option(False, "--json", help="Print {path, removed}."),
) -> None:
    """Remove every cached answer (the next runs ask the models again).

    Example: automuse cache clear --yes
    """
    cfg = settings(ctx)
    removed = 0
    if cfg.cache_path.is_file():
        if not yes and not typer.confirm(f"remove every cached answer in {cfg.cache_path}?", default=False):
            raise typer.Exit(1)
        cache = _cache(ctx)
        try:
            removed = cache.clear()
        finally:
            cache.close()
    if as_json:
        print_json({"path": str(cfg.cache_path), "removed": removed})
        return
    console.print(f"removed {removed} cached answers from {cfg.cache_path}", highlight=False, markup=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add ``automuse cache`` to the app."""
    app.add_typer(cache_app, name="cache")
