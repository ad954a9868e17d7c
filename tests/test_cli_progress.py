"""The command line's one progress bar (cli/progress.py): what each command asks for
shows, in order, and a disabled bar (``--json``) shows nothing."""

from __future__ import annotations

from rich.console import Console

from automuse_rag.cli.progress import progress_bar, rate_column


def shown(**options) -> str:
    console = Console(record=True, width=160, force_terminal=False, color_system=None)
    bar = progress_bar(console=console, **options)
    task = bar.add_task("ingest sample", total=10, words=120)
    bar.update(task, completed=3)
    console.print(bar.get_renderable())
    return console.export_text()


def test_the_bar_shows_label_count_extras_and_eta_in_order() -> None:
    text = shown(extra=("chunks", rate_column("chunks")), eta="eta")
    assert text.index("ingest sample") < text.index("3/10") < text.index("chunks") < text.index("/min") < text.index("eta")
    fixed = shown(label="samples", extra=("{task.fields[words]} words",))
    assert "samples" in fixed and "ingest sample" not in fixed and "120 words" in fixed and "eta" not in fixed


def test_a_disabled_bar_is_quiet_and_stderr_is_the_default() -> None:
    assert progress_bar(enabled=False).disable
    bar = progress_bar()
    assert bar.console.stderr and bar.live.transient
    assert not progress_bar(transient=False).live.transient
