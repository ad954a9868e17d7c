"""Command: ``serve`` (a local, read-only web page over a story's memory)."""

from __future__ import annotations

import socket
from pathlib import Path

import typer

from automuse_rag.cli.common import REQUIRED, BudgetOption, LlmOption, StoryOption, err_console, settings
from automuse_rag.errors import InputError
from automuse_rag.web import open_app

LOOPBACK = "127.0.0.1"


def check_port(host: str, port: int) -> None:
    """InputError when ``host:port`` cannot be bound (in use, or not an address here)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise InputError(f"cannot listen on {host}:{port} ({exc.strerror or exc}); pick another --port or --host") from None


def serve_cmd(
    ctx: typer.Context,
    story: StoryOption = REQUIRED,
    host: str = typer.Option(
        LOOPBACK, "--host", help="Address to listen on. The default is this machine only; anything else must be given explicitly."
    ),
    port: int = typer.Option(8000, "--port", "-p", min=1, max=65535, help="Port to listen on."),
    llm: LlmOption = None,
    budget: BudgetOption = None,
    k: int = typer.Option(8, "-k", min=1, help="Memories fetched by vector search, as in prompt and ask."),
    compare_dir: list[Path] | None = typer.Option(
        None,
        "--compare",
        help="A compare report directory (compare --out DIR) to show; repeatable. stores/NAME/compare* and ./compare-NAME-* are found anyway.",
    ),
) -> None:
    """Serve a local, read-only web page over a story's memory: a position slider
    ("read up to chunk i"), characters and places, the character graph, a timeline,
    the context viewer, an ask box and the compare report, with a JSON API under /api.
    Nothing can be written through it (GET only).

    Example: automuse serve --story sample --port 8000
    """
    import uvicorn

    cfg = settings(ctx, llm=llm, budget=budget)
    app = open_app(cfg, story, llm=cfg.llm, budget=cfg.budget, k=k, compare_dirs=compare_dir or ())
    try:
        check_port(host, port)
    except InputError:
        if app.state.backend.close is not None:
            app.state.backend.close()
        raise
    if host not in (LOOPBACK, "localhost", "::1"):
        err_console.print(
            f"warning: listening on {host}: anyone who can reach this machine can read story {story}", style="yellow"
        )
    err_console.print(
        f"serving story {story} at http://{host if ':' not in host else f'[{host}]'}:{port}/ (read-only; Ctrl-C to stop)",
        highlight=False,
    )
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)


def register(app: typer.Typer) -> None:
    """Add ``serve`` to the app."""
    app.command("serve")(serve_cmd)
