"""Every command's --help reads cleanly at 80 columns: no line is longer, and no
paragraph is broken by a hard wrap from a docstring (a line ending early although
the next line's first word, a continuation in lower case, would have fitted)."""

from __future__ import annotations

import re

import pytest
import typer.main
from typer.testing import CliRunner

from automuse_rag.cli import app
from automuse_rag.cli.common import unwrap

WIDTH = 80
runner = CliRunner()


def _commands(cmd: object, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = [path]
    if isinstance(getattr(cmd, "commands", None), dict):  # a group
        for name, sub in cmd.commands.items():
            out += _commands(sub, (*path, name))
    return out


COMMANDS = _commands(typer.main.get_command(app))
_LEAD = re.compile(r"^[│ ]*")


def broken_wraps(text: str, width: int = WIDTH) -> list[str]:
    """Pairs of lines where the second's first word would have fitted on the first."""
    found = []
    lines = text.splitlines()
    for a, b in zip(lines, lines[1:]):
        boxed = a.rstrip().endswith("│")
        inner_a = a.rstrip().removesuffix("│").rstrip()
        inner_b = b.rstrip().removesuffix("│").rstrip()
        start_a, start_b = _LEAD.match(inner_a).end(), _LEAD.match(inner_b).end()
        if start_b >= len(inner_b) or start_a >= len(inner_a) or start_b < start_a or len(inner_a) <= start_b:
            continue
        if boxed and start_b <= 2:  # the first column of a panel: a new row, not a continuation
            continue
        word = inner_b[start_b:].split()[0]
        room = (width - 3 if boxed else width - 1) - len(inner_a) - 1  # a margin for padding
        if word[0].islower() and len(word) < room:
            found.append(f"{a.strip()!r} / {b.strip()!r}")
    return found


@pytest.mark.parametrize("path", COMMANDS, ids=[" ".join(p) or "automuse" for p in COMMANDS])
def test_help_reads_cleanly_at_80_columns(path: tuple[str, ...]) -> None:
    result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": str(WIDTH), "TERMINAL_WIDTH": str(WIDTH)})
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    long = [line for line in result.output.splitlines() if len(line) > WIDTH]
    assert not long, long
    assert not broken_wraps(result.output)


def test_the_check_finds_a_hard_wrap() -> None:
    assert broken_wraps(" Ingest BOOK into story memory: chunk it, summarize each\n chunk and extract its lore.")
    assert broken_wraps("│ ingest  Ingest BOOK: chunk it,                  │\n│         chunk and extract its lore.        │", 50)
    assert not broken_wraps(" " + "word " * 15 + "\n continued")


def test_unwrap_joins_paragraph_lines_but_keeps_list_items() -> None:
    doc = """First line
    goes on.

    1. one
    2. two
    """
    assert unwrap(doc) == "First line goes on.\n\n1. one\n2. two"
