"""A text file decoded and cleaned a chunk at a time, and read by DuckDB as UTF-8 without a copy.

DuckDB reads UTF-8 only. A GB18030 export (or one that needs cleaning: a carriage return pasted
into a cell, two exports joined) is decoded here a chunk at a time (`decode`), and DuckDB reads
the result through a file system registered on its connection (`register`): a read-only,
seekable file whose bytes are made on demand from the source file and dropped once read. What
is held is a chunk and what DuckDB asks for at once (its `buffer_size`), never the whole text:
no copy of the file, personal columns included, exists in memory or on disk, and a killed load
leaves nothing behind.

A first pass over the file (etl/readers.py `_count`, which checks it decodes) measures the
text's UTF-8 length, which DuckDB needs before it reads, and leaves a mark every MARK_EVERY
bytes of it: where decoding can start again and give the very same bytes. Reading on from
where the last read ended costs nothing more; a read elsewhere starts again from the nearest
mark before it.
"""

from __future__ import annotations

import bisect
import codecs
import io
import re
import threading
import uuid
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import duckdb
from fsspec import AbstractFileSystem

CHUNK = 1 << 20  # bytes of the file decoded at a time
MARK_EVERY = 8 << 20  # bytes of text between two places where decoding can start again

_BARE_CR = re.compile(r"\r(?!\n)")


@dataclass(frozen=True)
class At:
    """What decoding holds between two chunks: from here it goes on as if never stopped."""

    offset: int  # bytes of the file read
    state: tuple[bytes, int]  # the decoder's (the start of a character the chunk cut)
    held: str = ""  # a carriage return kept for the next piece, so `\r\n` is never split
    first: bool = True  # no text yet: a byte-order mark may still come
    after_newline: bool = False  # the text given so far ends with a line end


def decode(
    path: Path,
    codec: str,
    skip: int,
    *,
    clean: bool = True,
    chunk: int = CHUNK,
    at: At | None = None,
) -> Generator[tuple[str, str, At]]:
    """The file's text after `skip` bytes, a chunk at a time (from `at`, where a previous
    decoding of the same file with the same `chunk` was). Each step gives the piece decoded
    (without the byte-order mark that starts the text; never ending with a carriage return
    unless it ends the file), the piece as DuckDB is given it and where decoding stands after
    it. With `clean`, a carriage return that ends no line becomes a space and a byte-order
    mark that starts a line (two exports joined) is removed. An undecodable byte raises
    UnicodeDecodeError with `start` set to its offset in the file."""
    decoder = codecs.getincrementaldecoder(codec)()
    if at is None:
        at = At(skip, decoder.getstate())
    decoder.setstate(at.state)
    offset, held, first, after_newline = at.offset, at.held, at.first, at.after_newline
    with open(path, "rb") as fh:
        fh.seek(offset)
        while True:
            data = fh.read(chunk)
            buffered = len(decoder.getstate()[0])
            try:
                piece = decoder.decode(data, final=not data)
            except UnicodeDecodeError as exc:
                exc.start += offset - buffered
                raise
            offset += len(data)
            piece, held = held + piece, ""
            if data and piece.endswith("\r"):
                piece, held = piece[:-1], "\r"
            if piece and first:
                piece = piece.removeprefix("\ufeff")  # a byte-order mark the codec decoded
                first = not piece
            text = piece
            if clean and text:
                if after_newline and text.startswith("\ufeff"):
                    text = text[1:]
                if "\r" in text:
                    text = _BARE_CR.sub(" ", text)
                if "\ufeff" in text:
                    text = text.replace("\n\ufeff", "\n")
            if text:
                after_newline = text.endswith("\n")
            if piece:
                yield piece, text, At(offset, decoder.getstate(), held, first, after_newline)
            if not data:
                return


@dataclass
class Layout:
    """Where the UTF-8 text of a file lies: its length and the marks decoding can start from
    (measured by `measure` while the file is read for the first time)."""

    codec: str
    skip: int
    chunk: int = CHUNK
    size: int = 0  # bytes of UTF-8 text
    marks: list[int] = field(default_factory=list)  # UTF-8 offsets, ascending
    places: list[At] = field(default_factory=list)  # where decoding stands at each

    def measure(self, text: str, at: At) -> None:
        """Adds the piece `text` that `decode` gave, and where it stood after it."""
        if text:
            self.size += len(text.encode("utf-8"))
            if self.size - (self.marks[-1] if self.marks else 0) >= MARK_EVERY:
                self.marks.append(self.size)
                self.places.append(at)


CHANGED = "the file changed while it was read"


class TextFile(io.RawIOBase):
    """The UTF-8 text of a file as a read-only, seekable binary file, made on demand.

    DuckDB's CSV reader reads one handle from several threads, each with a seek and then a
    read: the position is kept per thread, so a thread's read comes from where that thread
    sought, whatever the others did in between. The decoding itself is shared, under a lock."""

    def __init__(self, path: Path, layout: Layout) -> None:
        super().__init__()
        self._path = path
        self._layout = layout
        self._local = threading.local()
        self._pieces: Generator[tuple[str, str, At]] | None = None
        self._start = 0  # offset of `_piece` in the text
        self._piece = b""  # the piece being read, as UTF-8
        self._lock = threading.Lock()

    @property
    def _pos(self) -> int:
        return getattr(self._local, "pos", 0)

    @_pos.setter
    def _pos(self, value: int) -> None:
        self._local.pos = value

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._layout.size}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self._pos = base + offset
        return self._pos

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(memoryview(buffer).cast("B")))
        memoryview(buffer).cast("B")[: len(data)] = data
        return len(data)

    def read(self, size: int | None = -1) -> bytes:
        with self._lock:
            pos, end = self._pos, self._layout.size
            want = end - pos if size is None or size < 0 else min(size, end - pos)
            if want <= 0:
                return b""
            self._go_to(pos)
            parts = []
            while want:
                if pos >= self._start + len(self._piece):
                    self._next()
                    continue
                part = self._piece[pos - self._start : pos - self._start + want]
                parts.append(part)
                pos += len(part)
                want -= len(part)
            self._pos = pos
            return b"".join(parts)

    def _go_to(self, pos: int) -> None:
        """Decoding goes on from where it is if `pos` lies ahead and no mark lies beyond what
        is decoded; else it starts again from the last mark at or before `pos`."""
        marks = self._layout.marks
        i = bisect.bisect_right(marks, pos) - 1
        mark = marks[i] if i >= 0 else 0
        decoded = self._start + len(self._piece)
        if self._pieces is not None and self._start <= pos and mark <= decoded:
            return
        self._stop()
        at = self._layout.places[i] if i >= 0 else None
        layout = self._layout
        pieces = decode(self._path, layout.codec, layout.skip, chunk=layout.chunk, at=at)
        self._pieces = pieces
        self._start, self._piece = mark, b""

    def _next(self) -> None:
        assert self._pieces is not None
        self._start += len(self._piece)
        try:
            _, text, _ = next(self._pieces)
        except (StopIteration, UnicodeDecodeError):  # it decoded to `size` bytes when measured
            raise OSError(CHANGED) from None
        self._piece = text.encode("utf-8")

    def _stop(self) -> None:
        if self._pieces is not None:
            self._pieces.close()  # and the file with it
        self._pieces, self._piece = None, b""

    def close(self) -> None:
        with self._lock:
            self._stop()
        super().close()


class TextFileSystem(AbstractFileSystem):  # type: ignore[misc]  # fsspec is untyped
    """The files `register` put up, for DuckDB (read-only; nothing is stored but their
    layouts)."""

    protocol = "onewindow-text"
    files: ClassVar[dict[str, tuple[Path, Layout]]] = {}  # process-wide, as fsspec's memory

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        name = self._strip_protocol(path)
        if name not in self.files:
            raise FileNotFoundError(path)
        return {"name": name, "size": self.files[name][1].size, "type": "file"}

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        info = self.info(path)
        return [info] if detail else [info["name"]]

    def _open(self, path: str, mode: str = "rb", **kwargs: Any) -> TextFile:
        if mode != "rb":
            raise PermissionError(f"{path} is read-only")
        name = self._strip_protocol(path)
        if name not in self.files:
            raise FileNotFoundError(path)
        return TextFile(*self.files[name])


_FS = TextFileSystem()


def register(con: duckdb.DuckDBPyConnection, path: Path, layout: Layout) -> str:
    """Puts the UTF-8 text of `path` where `con` can read it; returns the path to give
    read_csv. `release` takes it down."""
    name = f"{uuid.uuid4().hex}.csv"
    _FS.files[name] = (path, layout)
    con.register_filesystem(_FS)
    return f"{TextFileSystem.protocol}://{name}"


def release(target: str) -> None:
    _FS.files.pop(target.removeprefix(f"{TextFileSystem.protocol}://"), None)
