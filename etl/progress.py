"""Progress of a run: a live line on a terminal, one log line per file otherwise."""

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

    @property
    def live(self) -> bool:
        return self.stream is not None and self.stream.isatty()

    def doing(self, what: str) -> None:
        """What the run is busy with now, e.g. 'reading steps.csv' or 'publishing'."""
        self._show(what)

    def file_done(self, path: Path, rows: int) -> None:
        self.files += 1
        self.rows += rows
        self._show(f"done {path.name}")

    def _show(self, what: str) -> None:
        if not self.live:
            return
        assert self.stream is not None
        rate = self.rows / max(time.monotonic() - self.started, 1e-6)
        self.stream.write(
            f"\r{self.files}/{self.total_files} files, {self.rows:,} rows, "
            f"{rate:,.0f} rows/s  {what[:50]:<50}"
        )
        self.stream.flush()

    def finish(self, result: RunResult) -> None:
        if self.live:
            assert self.stream is not None
            self.stream.write("\r" + " " * 100 + "\r")
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
