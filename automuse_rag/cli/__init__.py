"""The ``automuse`` command line: a thin layer over the library.

Each command module defines ``register(app)``; commands parse options, call the
library and format output. Errors a user can cause (:class:`AutomuseError`) end
as one line on stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from typer.core import TyperGroup

from automuse_rag import __version__
from automuse_rag.cli.common import escape_help, unwrap_help
from automuse_rag.errors import AutomuseError
from automuse_rag.redact import redact


class _Group(TyperGroup):
    """Turns user errors and Ctrl-C into one line and an exit code; its help and its
    commands' show square brackets as written (no rich markup)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        escape_help(self)  # Typer builds the whole command tree, then this root

    # typer builds a typer.Context; the base class declares its vendored click's Context
    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except AutomuseError as exc:
            typer.echo(f"error: {redact(exc, _known_secrets())}", err=True)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            typer.echo("interrupted: everything already stored is kept; run the same command again to continue", err=True)
            raise typer.Exit(130) from None


def _known_secrets() -> list[str]:
    """The API keys in the environment, masked verbatim wherever they appear."""
    import os

    return [v for k, v in os.environ.items() if k.endswith("API_KEY") and v]


app = typer.Typer(
    name="automuse",
    cls=_Group,
    help=(
        "Long-term story memory for language models: ingest books into retrieval memory, "
        "assemble token-budgeted prompts, export fine-tuning data, generate novels and "
        "compare retrieval with rolling summaries.\n\n"
        "Example: automuse demo"
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"automuse-rag {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    home: Path | None = typer.Option(
        None, "--home", help="Where stores/ and downloaded books live (env AUTOMUSE_HOME; default: current directory)."
    ),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
) -> None:
    ctx.obj = {"home": home}


from automuse_rag.cli import (  # noqa: E402  (modules register their commands)
    ask,
    assemble,
    books,
    cache,
    characters,
    chunk,
    compare,
    continuity,
    corpus,
    demo,
    finetune,
    generate,
    ingest,
    lorebook,
    models,
    serve,
    store,
)

for _module in (
    books,
    chunk,
    models,
    ingest,
    corpus,
    characters,
    lorebook,
    store,
    continuity,
    assemble,
    ask,
    serve,
    generate,
    compare,
    finetune,
    demo,
    cache,
):
    _module.register(app)
unwrap_help(app)  # docstrings are hard-wrapped; --help wraps them to the terminal


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM stops like Ctrl-C: stored work is kept, one line, exit 130


def main() -> None:
    import signal

    signal.signal(signal.SIGTERM, _terminate)
    app()
