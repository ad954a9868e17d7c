"""Every command's --help reads cleanly at 80 columns: no line is longer, and no
paragraph is broken by a hard wrap from a docstring (a line ending early although
the next line's first word, a continuation in lower case, would have fitted)."""

from __future__ import annotations

import inspect
import re
import typing

import pytest
import typer.main
import typer.models
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


# -- square brackets survive rich markup ---------------------------------------------

_BRACKETED = re.compile(r"\[[^\[\]\n]*\]")
_FRAME = re.compile(r"[│╭╮╰╯─]")


def _click_command(path: tuple[str, ...]) -> typing.Any:
    cmd: typing.Any = typer.main.get_command(app)
    for name in path:
        cmd = cmd.commands[name]
    return cmd


def _parameter_helps(callback: object) -> list[str]:
    """The help of each option and argument, as the source declares it (a Typer
    ``Option``/``Argument`` default or an ``Annotated`` one)."""
    func = inspect.unwrap(callback)  # type: ignore[arg-type]
    helps = []
    for name, param in inspect.signature(func).parameters.items():
        hint = typing.get_type_hints(func, include_extras=True).get(name)
        infos = [param.default, *getattr(hint, "__metadata__", ())]
        helps += [i.help for i in infos if isinstance(i, typer.models.ParameterInfo) and i.help]
    return helps


def source_help(path: tuple[str, ...]) -> list[str]:
    """The help texts of ``path`` as written in the source: the docstring (or the
    group's ``help=``) and every parameter's help."""
    cmd = _click_command(path)
    texts = []
    if hasattr(cmd, "commands"):  # a group
        groups = {g.name: g.typer_instance for g in app.registered_groups}
        info = (groups[path[-1]] if path else app).info  # type: ignore[union-attr]
        texts.append(info.help if isinstance(info.help, str) else inspect.getdoc(info.callback) or "")
    elif cmd.callback is not None:
        texts.append(inspect.getdoc(cmd.callback) or "")
    if cmd.callback is not None:
        texts += _parameter_helps(cmd.callback)
    return texts


def bracketed(texts: list[str]) -> list[str]:
    """Every ``[...]`` in ``texts``, its whitespace made single spaces."""
    return [" ".join(m.split()) for t in texts for m in _BRACKETED.findall(t)]


def plain(output: str) -> str:
    """Rendered help without panel frames, its whitespace made single spaces."""
    return " ".join(_FRAME.sub(" ", output).split())


@pytest.mark.parametrize("path", COMMANDS, ids=[" ".join(p) or "automuse" for p in COMMANDS])
def test_help_keeps_square_brackets(path: tuple[str, ...]) -> None:
    """Rich markup reads ``[word ...]`` as a style tag and drops it: every bracketed
    text of the docstring and the options' help must show in --help as written."""
    result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "200", "TERMINAL_WIDTH": "200"})
    assert result.exit_code == 0, result.output
    shown = plain(result.output)
    lost = [b for b in bracketed(source_help(path)) if b not in shown]
    assert not lost, lost


def test_the_bracket_check_has_something_to_check() -> None:
    found = {" ".join(p): bracketed(source_help(p)) for p in COMMANDS}
    assert "[chunk N, chapter C]" in found["ask"]
    assert "[system, user, assistant]" in found["dataset"]
    assert plain("│ a  [x,\n│    y] │") == "a [x, y]"
