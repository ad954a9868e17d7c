"""Helpers shared by the command modules."""

from __future__ import annotations

import json
import sys
from typing import Any

import typer
from rich.console import Console

from automuse_rag.settings import Settings, get_settings

console = Console()
err_console = Console(stderr=True)


def settings(ctx: typer.Context, **overrides: Any) -> Settings:
    """Settings resolved now: environment, then the global --home, then command options."""
    root = ctx.find_root()
    home = (root.obj or {}).get("home") if root.obj else None
    return get_settings(home=home, **overrides)


def print_json(data: Any) -> None:
    """Machine-readable output on stdout (no rich markup, no wrapping)."""
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")
    sys.stdout.flush()
