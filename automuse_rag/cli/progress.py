"""The one progress bar of the command line: ``LABEL ━━━━━━ done/total [extra columns]
elapsed [ETA remaining]``, on stderr unless a command says otherwise. Each command
gives only what differs (its label, extra columns, whether an ETA shows, whether the
bar stays on screen when done)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.console import Console

from automuse_rag.cli.common import err_console

if TYPE_CHECKING:
    from rich.progress import Progress, ProgressColumn, Task
    from rich.text import Text

#: The label column's default: each task's own description.
DESCRIPTION = "{task.description}"


def progress_bar(
    label: str = DESCRIPTION,
    *,
    extra: Sequence[str | ProgressColumn] = (),
    eta: str | None = None,
    console: Console | None = None,
    transient: bool = True,
    enabled: bool = True,
) -> Progress:
    """A rich ``Progress``: ``label`` (a text column: a fixed word or a ``{task...}``
    template), the bar, ``done/total``, the ``extra`` columns (strings are text
    columns), the elapsed time and, when ``eta`` is not None, that word (none if empty)
    and the time remaining. On ``err_console`` unless ``console`` is given; a disabled
    bar shows nothing."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns: list[str | ProgressColumn] = [TextColumn(label), BarColumn(), MofNCompleteColumn()]
    columns += [TextColumn(c) if isinstance(c, str) else c for c in extra]
    columns.append(TimeElapsedColumn())
    if eta is not None:
        columns += [TextColumn(eta)] if eta else []
        columns.append(TimeRemainingColumn())
    return Progress(*columns, console=console or err_console, transient=transient, disable=not enabled)


def rate_column(unit: str) -> ProgressColumn:
    """A column with the task's speed per minute (``12.5 chunks/min``)."""
    from rich.progress import ProgressColumn
    from rich.text import Text

    class _Rate(ProgressColumn):
        def render(self, task: Task) -> Text:
            speed = task.finished_speed or task.speed
            return Text(f"{speed * 60:.1f} {unit}/min" if speed else f"-- {unit}/min")

    return _Rate()
