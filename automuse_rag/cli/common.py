"""Helpers shared by the command modules: settings, output, the options several
commands take (one definition each, as ``Annotated`` aliases) and help text cleanup."""

from __future__ import annotations

import inspect
import json
import re
import sys
from typing import Annotated, Any

import typer
from rich.console import Console

from automuse_rag.settings import DEFAULT_SEED, Settings, get_settings
from automuse_rag.specs import check_embedder_spec

console = Console()
err_console = Console(stderr=True)

LLM_HELP = "Chat model: local (default), openai:MODEL, or extractive for no model (env AUTOMUSE_LLM)."
EMBEDDER_HELP = "Embedder: minilm (default), openai:MODEL, hash[:DIM] (env AUTOMUSE_EMBEDDER)."
STORY_HELP = "Name of the story: its store is HOME/stores/NAME."
BUDGET_HELP = "Prompt token budget (env AUTOMUSE_BUDGET; default 2048)."
CHROMA_URL_HELP = "Keep the collections on a Chroma server, e.g. http://127.0.0.1:8000 (env AUTOMUSE_CHROMA_URL)."

# Options several commands share (``name: LlmOption = None``).
LlmOption = Annotated[str | None, typer.Option("--llm", help=LLM_HELP)]


def _embedder_spec(spec: str | None) -> str | None:
    """--embedder checked as it is parsed (a command may pass it on unread, after
    storing something)."""
    return None if spec is None else check_embedder_spec(spec)


EmbedderOption = Annotated[str | None, typer.Option("--embedder", help=EMBEDDER_HELP, callback=_embedder_spec)]
StoryOption = Annotated[str, typer.Option("--story", "-s", help=STORY_HELP)]  # required: ``story: StoryOption = REQUIRED``
#: The default of a required option declared with ``Annotated``: Typer reads ``...`` as "required";
#: typed Any so that it fits the parameter's own type.
REQUIRED: Any = ...
BudgetOption = Annotated[int | None, typer.Option("--budget", "-b", min=1, help=BUDGET_HELP)]
ChromaUrlOption = Annotated[str | None, typer.Option("--chroma-url", help=CHROMA_URL_HELP)]
NoCacheOption = Annotated[bool, typer.Option("--no-cache", help="Bypass the model call cache.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
# Sampling options, their defaults named from the settings (one definition).
_DEFAULTS = Settings.model_fields
TemperatureOption = Annotated[
    float | None,
    typer.Option(
        "--temperature",
        min=0.0,
        max=2.0,
        help=f"Sampling temperature (env AUTOMUSE_TEMPERATURE; default {_DEFAULTS['temperature'].default}).",
    ),
]
TopPOption = Annotated[
    float | None,
    typer.Option(
        "--top-p", min=0.0, max=1.0, help=f"Nucleus sampling (env AUTOMUSE_TOP_P; default {_DEFAULTS['top_p'].default})."
    ),
]
SeedOption = Annotated[int | None, typer.Option("--seed", help=f"Sampling seed (env AUTOMUSE_SEED; default {DEFAULT_SEED}).")]


def settings(ctx: typer.Context, **overrides: Any) -> Settings:
    """Settings resolved now: environment, then the global --home, then command options."""
    root = ctx.find_root()
    home = (root.obj or {}).get("home") if root.obj else None
    return get_settings(home=home, **overrides)


def print_json(data: Any) -> None:
    """Machine-readable output on stdout (no rich markup, no wrapping)."""
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")
    sys.stdout.flush()


_LIST_ITEM = re.compile(r"^(\d+\.|[-*])\s")


def unwrap(doc: str | None) -> str | None:
    """A docstring as help text that ``--help`` wraps to the terminal: the lines of
    each paragraph joined into one, except in a list (every line an item: ``1. ``,
    ``- ``), whose items stay one per line."""
    if not doc:
        return doc
    paragraphs = []
    for para in inspect.cleandoc(doc).split("\n\n"):
        lines = [line.strip() for line in para.splitlines() if line.strip()]
        if len(lines) > 1 and all(_LIST_ITEM.match(line) for line in lines):
            paragraphs.append("\n".join(lines))
        else:
            paragraphs.append(" ".join(lines))
    return "\n\n".join(paragraphs)


def escape_help(command: Any) -> None:
    """Escape rich markup in the help of ``command`` (a click command or group, which
    Typer may vendor) and everything under it (its own
    text, its parameters', its subcommands'), so that --help shows square brackets as
    written: rich would read ``[chunk N, chapter C]`` as a style tag and drop it.
    Runs on each click command tree Typer builds (:class:`automuse_rag.cli._Group`),
    whose texts are fresh copies of the source's, so nothing is escaped twice."""
    from rich.markup import escape

    for attr in ("help", "short_help", "epilog"):
        text = getattr(command, attr, None)
        if isinstance(text, str):
            setattr(command, attr, escape(text))
    for param in command.params:
        text = getattr(param, "help", None)
        if isinstance(text, str):
            param.help = escape(text)
    for sub in getattr(command, "commands", {}).values():
        escape_help(sub)


def unwrap_help(app: typer.Typer) -> None:
    """Give every command and group of ``app`` unwrapped help (see :func:`unwrap`)."""
    for command in app.registered_commands:
        command.help = unwrap(command.help if isinstance(command.help, str) else inspect.getdoc(command.callback))
    for group in app.registered_groups:
        if group.typer_instance is None:
            continue
        info = group.typer_instance.info
        if isinstance(info.help, str):
            info.help = unwrap(info.help)
        elif info.callback is not None and inspect.getdoc(info.callback):
            info.help = unwrap(inspect.getdoc(info.callback))
        unwrap_help(group.typer_instance)
