"""The first passes (readers._scan) of a run's big CSV files, made before the files are read:
the first file's by a thread while the run opens the warehouse, the later ones' by a child
process while the earlier files are read and staged.

A GB18030 file's first pass is decoding, which holds Python's lock (the 10M demo's steps
file: 7 CPU s), so a thread would only take turns with the mapping: a process runs beside it.
The child is a plain `python -m etl.scanahead`, not a multiprocessing worker: those import
the parent's main module again (under Streamlit, the dashboard's page), and a pool whose
worker dies at start replaces it forever while the task waits. Here the parent sends the
files (pickled, on the child's standard input) and reads each scan back in order; a child
that fails or dies only means the file is scanned where it is read, as without it.
"""

from __future__ import annotations

import logging
import os
import pickle
import struct
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import IO

import etl
from etl.profile import TableSource
from etl.readers import CSV_SUFFIXES, UnreadableFile, _Scan, _scan

log = logging.getLogger(__name__)

Key = tuple[Path, str, str]  # a file, its encoding and delimiter


class ScanAhead:
    """The run's first CSV file, when it has `first_bytes` or more, is scanned by a thread of
    this process from the moment the run starts (while it opens the warehouse and its delta;
    decoding holds Python's lock, but opening DuckDB files does not); the later ones of
    `min_bytes` or more by the child. Smaller files are scanned where they are read. A file
    found unchanged is never asked for; `close` stops the child whatever it is doing (the
    thread ends with its file)."""

    MIN_BYTES = 32 << 20
    FIRST_BYTES = 8 << 20

    def __init__(
        self,
        files: Sequence[tuple[Path, TableSource]],
        min_bytes: int | None = None,
        first_bytes: int | None = None,
    ) -> None:
        least = self.MIN_BYTES if min_bytes is None else min_bytes
        self._first: _Beside | None = None
        if files and files[0][0].suffix.lower() in CSV_SUFFIXES:
            path, src = files[0]
            if _size(path) >= (self.FIRST_BYTES if first_bytes is None else first_bytes):
                self._first = _Beside((path, src.encoding, src.delimiter))
        later = [(p, s) for p, s in files[1:] if p.suffix.lower() in CSV_SUFFIXES]
        self._order: list[Key] = [
            (p, s.encoding, s.delimiter) for p, s in later if _size(p) >= least
        ]
        self._read: dict[Key, tuple[str, object]] = {}
        self._next = 0  # results read from the child so far
        self.made_ahead = 0  # scans the child gave
        self._child: subprocess.Popen[bytes] | None = None
        if not self._order:
            return
        root = str(Path(etl.__file__).resolve().parents[1])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, *sys.path])}
        try:
            self._child = subprocess.Popen(
                [sys.executable, "-m", "etl.scanahead"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=env,
            )
            assert self._child.stdin is not None
            self._child.stdin.write(pickle.dumps([(str(p), e, d) for p, e, d in self._order]))
            self._child.stdin.close()
        except OSError as exc:
            log.warning("no child to scan files ahead (%s): each is scanned when read", exc)
            self.close()

    def scan(self, path: Path, src: TableSource) -> _Scan:
        key = (path, src.encoding, src.delimiter)
        kind, value = self._result(key)
        if kind == "ok":
            assert isinstance(value, _Scan)
            self.made_ahead += 1
            return value
        if kind == "unreadable":
            raise UnreadableFile(str(value))
        if kind == "failed":
            log.warning("scanning %s ahead failed (%s); scanned now", path.name, value)
        return _scan(path, src.encoding, src.delimiter)

    def _result(self, key: Key) -> tuple[str, object]:
        """The thread's or the child's result for `key` (the child's read in order, those
        before it kept); ("none", …) for a file neither was given or could answer."""
        if self._first is not None and self._first.key == key:
            first, self._first = self._first, None
            return first.result()
        if key in self._read:
            return self._read.pop(key)
        if key not in self._order[self._next :] or self._child is None:
            return "none", None
        while self._next < len(self._order):
            current = self._order[self._next]
            self._next += 1
            try:
                assert self._child.stdout is not None
                result = _receive(self._child.stdout)
            except (EOFError, OSError, pickle.UnpicklingError, struct.error) as exc:
                log.warning("the scanning child stopped (%s): files are scanned when read", exc)
                self.close()
                return "none", None
            if current == key:
                return result
            self._read[current] = result
        return "none", None

    def close(self) -> None:
        if self._child is not None:
            self._child.kill()
            self._child.wait()
            if self._child.stdout is not None:
                self._child.stdout.close()
            self._child = None


class _Beside:
    """One file's first pass in a thread of this process, its result kept as the child's."""

    def __init__(self, key: Key) -> None:
        self.key = key
        self._done = threading.Event()
        self._result: tuple[str, object] = ("none", None)
        threading.Thread(target=self._scan, name="onewindow-first-scan", daemon=True).start()

    def _scan(self) -> None:
        try:
            self._result = _outcome(*self.key)
        finally:
            self._done.set()

    def result(self) -> tuple[str, object]:
        self._done.wait()
        return self._result


def _outcome(path: Path, encoding: str, delimiter: str) -> tuple[str, object]:
    """A first pass made ahead, as ScanAhead.scan takes it: ("ok", the scan), ("unreadable",
    the reason) or ("failed", what went wrong: the file is scanned again where it is read)."""
    try:
        return "ok", _scan(path, encoding, delimiter)
    except UnreadableFile as exc:
        return "unreadable", str(exc)
    except Exception as exc:
        return "failed", f"{type(exc).__name__}: {exc}"


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _send(out: IO[bytes], result: tuple[str, object]) -> None:
    data = pickle.dumps(result)
    out.write(struct.pack("<Q", len(data)) + data)
    out.flush()


def _receive(stream: IO[bytes]) -> tuple[str, object]:
    head = stream.read(8)
    if len(head) < 8:
        raise EOFError("no more results")
    (size,) = struct.unpack("<Q", head)
    data = stream.read(size)
    if len(data) < size:
        raise EOFError("a result cut short")
    kind, value = pickle.loads(data)
    return str(kind), value


def _child() -> None:
    """Scans the files the parent sent, in order, and sends each result back."""
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # whatever a library prints goes to standard error, not into the results
    files = pickle.loads(sys.stdin.buffer.read())
    for path, encoding, delimiter in files:
        _send(out, _outcome(Path(path), encoding, delimiter))


if __name__ == "__main__":
    _child()
