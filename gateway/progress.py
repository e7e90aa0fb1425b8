"""One progress display for the long-running commands (`gateway demo`, `gateway schools import`).

rich draws it on standard error, so that standard output carries only the JSON summary a script reads;
on a terminal it redraws one line, elsewhere (CI, a pipe) it prints only when it stops.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class Bar:
    """A task on the display: `advance` moves it, `note` updates the figures shown beside it."""

    def __init__(self, progress: Progress, task: TaskID):
        self._progress = progress
        self._task = task

    def advance(self, steps: int = 1, **fields: object) -> None:
        self._progress.update(self._task, advance=steps, **fields)

    def note(self, **fields: object) -> None:
        self._progress.update(self._task, **fields)


@contextmanager
def progress_bar(description: str, total: int, *, count: bool = True, detail: str = "",
                 **fields: object) -> Iterator[Bar]:
    """A bar of `total` steps; `detail` is a format string over `fields` (their starting values), which
    `note` and `advance` update (e.g. "{task.fields[registers]:,} registers"); `count` shows "done/total"
    beside the percentage (not for bytes)."""
    columns = [TextColumn("{task.description}"), BarColumn(bar_width=24), TaskProgressColumn()]
    if count:
        columns.append(MofNCompleteColumn())
    if detail:
        columns.append(TextColumn(detail))
    columns += [TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn()]
    console = Console(stderr=True)
    if not console.is_terminal:
        console = Console(stderr=True, width=160)  # a log or pipe has no width to fit: keep one line
    with Progress(*columns, console=console, transient=False) as progress:
        yield Bar(progress, progress.add_task(description, total=total, **fields))
