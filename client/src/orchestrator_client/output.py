"""What the CLI prints for people: plain-text tables and a progress bar.

Formatted here in a few lines: a dependency for either would cost more than it saves.
"""

from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from orchestrator_client.waiting import Progress

BAR_WIDTH = 30


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return " ".join(cell(v) for v in value) or "-"
    return str(value)


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], out: TextIO,
          headers: Mapping[str, str] | None = None) -> None:
    """`rows` in aligned columns under a header line; numbers right-aligned."""
    headers = headers or {}
    text = [[cell(row.get(c)) for c in columns] for row in rows]
    titles = [headers.get(c, c) for c in columns]
    widths = [max([len(t), *(len(r[i]) for r in text)]) for i, t in enumerate(titles)]
    numeric = [bool(rows) and all(isinstance(row.get(c), int | float) and not isinstance(row.get(c), bool)
                                  or row.get(c) is None for row in rows) for c in columns]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) if n else v.ljust(w) for v, w, n in zip(values, widths, numeric, strict=True)).rstrip()

    out.write(line(titles) + "\n")
    for values in text:
        out.write(line(values) + "\n")


def progress_bar(progress: Progress, width: int = BAR_WIDTH) -> str:
    """`[##########----------] 4/8 ended: 4 done, 1 pending, 3 waiting`."""
    filled = width * progress.ended // progress.total if progress.total else width
    return f"[{'#' * filled}{'-' * (width - filled)}] {progress.ended}/{progress.total} ended: {progress.summary()}"


class ProgressPrinter:
    """Redraws one line in place on a terminal; elsewhere (a log, a pipe) writes a line per change."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.tty = out.isatty()

    def __call__(self, progress: Progress) -> None:
        bar = progress_bar(progress)
        self.out.write(f"\r{bar}\x1b[K" if self.tty else bar + "\n")
        self.out.flush()

    def finish(self) -> None:
        if self.tty:
            self.out.write("\n")
