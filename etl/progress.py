"""Progress of a run: a live line on a terminal, one log line per file otherwise.

The line shows files and rows read, the reading rate, the run's elapsed time and what the run
is doing now: reading a file, then applying it to each warehouse copy table by table and
building the derived tables (etl/apply.py, metrics/derived.py), then publishing."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from etl.run import RunResult

log = logging.getLogger("onewindow.etl")


class Progress:
    def __init__(self, total_files: int, stream: TextIO | None = None) -> None:
        self.total_files = total_files
        self.stream = stream
        self.files = 0
        self.rows = 0
        self.started = time.monotonic()
        self.read_until = self.started  # when the last file was done: the rate is of reading

    @property
    def live(self) -> bool:
        return self.stream is not None and self.stream.isatty()

    def doing(self, what: str) -> None:
        """What the run is busy with now, e.g. 'reading steps.csv', 'copy b: merging events'
        or 'publishing the run'."""
        self._show(what)

    def file_done(self, path: Path, rows: int) -> None:
        self.files += 1
        self.rows += rows
        self.read_until = time.monotonic()
        self._show(f"done {path.name}")

    def _show(self, what: str) -> None:
        if not self.live:
            return
        assert self.stream is not None
        rate = self.rows / max(self.read_until - self.started, 1e-6)
        elapsed = time.monotonic() - self.started
        self.stream.write(
            f"\r{self.files}/{self.total_files} files, {self.rows:,} rows, "
            f"{rate:,.0f} rows/s  {elapsed:,.0f} s  {what[:50]:<50}"
        )
        self.stream.flush()

    def finish(self, result: RunResult) -> None:
        if self.live:
            assert self.stream is not None
            self.stream.write("\r" + " " * 110 + "\r")
            self.stream.flush()
        for f in result.files:
            log.info(
                "run %d %s [%s] %s: read %d, loaded %d, duplicate %d, quarantined %d%s",
                result.run_id,
                f.path,
                f.table,
                f.status,
                f.rows_read,
                f.loaded,
                f.duplicates,
                f.quarantined,
                f" ({f.error})" if f.error else "",
            )
