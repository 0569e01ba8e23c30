"""Progress bars for long work (rich), silent with ``--quiet``."""

from __future__ import annotations

import contextlib
import sys


@contextlib.contextmanager
def progress_bar(label: str, total: int, quiet: bool = False):
    """Yield ``advance(n)``; draws a rich progress bar on stderr unless quiet or not a terminal-worthy total."""
    if quiet or total <= 0:
        yield lambda n=1: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
    from rich.console import Console

    console = Console(file=sys.stderr)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=False) as prog:
        task = prog.add_task(label, total=total)
        yield lambda n=1: prog.advance(task, n)
