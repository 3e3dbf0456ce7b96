"""Is a warehouse copy whole? A look at a DuckDB file's headers, cheap enough for every reader.

A DuckDB 2.0 file starts with three 4 KiB headers: the main header (the magic bytes "DUCK" at
offset 8) and two database headers, of which the one with the higher iteration is current. A
zeroed or overwritten copy has no magic or no valid header. The headers do not give the file's
least size (DuckDB cuts free blocks off the end of the file but still counts them), so the
writer records each copy's size and header iteration in PATH.d/copies.json whenever it closes
the copy: a copy with the same iteration but fewer bytes was cut short afterwards (a full disk
while copying, a restore stopped half way). Damage inside a block is found by DuckDB's block
checksums when the block is read (`is_damage`); a reader that meets it leaves a marker beside
the copy so that later readers use the other copy until a writer rebuilds it.
"""

from __future__ import annotations

import contextlib
import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path

HEADER = 4096
_MAGIC = b"DUCK"
_MARKER = ".damaged"
_SIZES = "copies.json"


@dataclass(frozen=True)
class Damage:
    """What is wrong with a copy, in words for a data steward (never a server path).

    kind: missing, empty, not_database, truncated, unreadable, read_only, failed_read."""

    kind: str
    size: int = 0
    expected: int = 0
    detail: str = ""

    @property
    def readable(self) -> bool:
        """Its contents are intact: only writing to it fails."""
        return self.kind == "read_only"

    def describe(self) -> str:
        if self.kind == "missing":
            return "missing"
        if self.kind == "empty":
            return "empty (0 bytes)"
        if self.kind == "not_database":
            return "not a database file any more (its start is zeros or was overwritten)"
        if self.kind == "truncated":
            return f"cut short ({_mb(self.size)} of the {_mb(self.expected)} it should have)"
        if self.kind == "read_only":
            return f"read-only ({self.detail})" if self.detail else "read-only"
        if self.kind == "failed_read":
            return f"damaged inside ({self.detail})" if self.detail else "damaged inside"
        return f"unreadable ({self.detail})" if self.detail else "unreadable"


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def marker(copy: Path) -> Path:
    return copy.with_name(copy.name + _MARKER)


def inspect(copy: Path, *, writable: bool = False) -> Damage | None:
    """None when `copy` looks whole (and, with `writable`, may be written); else what is
    wrong. Reads 12 KiB."""
    try:
        size = copy.stat().st_size
    except FileNotFoundError:
        return Damage("missing")
    if size == 0:
        return Damage("empty")
    try:
        with open(copy, "rb") as fh:
            head = fh.read(3 * HEADER)
    except OSError as exc:
        return Damage("unreadable", detail=exc.strerror or type(exc).__name__)
    found = _headers(head, size, copy)
    if found is not None:
        return found
    noted = marker(copy)
    if noted.exists():
        with contextlib.suppress(OSError):
            return Damage("failed_read", detail=noted.read_text(encoding="utf-8").strip()[:200])
        return Damage("failed_read")
    if writable and not os.access(copy, os.W_OK):
        return Damage("read_only", detail="no write permission")
    return None


def _iteration(head: bytes) -> tuple[int, int] | None:
    """(iteration, block size) of the current database header; None when there is none."""
    if len(head) < 3 * HEADER or head[8:12] != _MAGIC:
        return None
    # checksum, iteration, meta_block, free_list, block_count, block_alloc_size
    candidates = [struct.unpack_from("<6Q", head, off) for off in (HEADER, 2 * HEADER)]
    current = max(candidates, key=lambda h: h[1])
    iteration, block_size = current[1], current[5]
    if iteration == 0 or block_size == 0 or block_size & (block_size - 1) or block_size > 1 << 30:
        return None
    return iteration, block_size


def _headers(head: bytes, size: int, copy: Path) -> Damage | None:
    found = _iteration(head)
    if found is None:
        return Damage("not_database", size=size)
    known = _recorded(copy).get(copy.name)
    if known and known.get("iteration") == found[0] and size < int(known.get("size", 0)):
        return Damage("truncated", size=size, expected=int(known["size"]))
    return None


def _recorded(copy: Path) -> dict[str, dict[str, int]]:
    try:
        found = json.loads((copy.parent / _SIZES).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def record(copy: Path) -> None:
    """Notes the size and header iteration of a copy the writer just closed."""
    try:
        with open(copy, "rb") as fh:
            found = _iteration(fh.read(3 * HEADER))
        size = copy.stat().st_size
    except OSError:
        return
    sizes = _recorded(copy)
    if found is None:
        sizes.pop(copy.name, None)
    else:
        sizes[copy.name] = {"size": size, "iteration": found[0]}
    target = copy.parent / _SIZES
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(json.dumps(sizes, sort_keys=True), encoding="utf-8")
    os.replace(tmp, target)


_DAMAGE_WORDS = (
    "could not read enough bytes",
    "not a valid duckdb database file",
    "corrupt database file",
    "checksum",
)
_READ_ONLY_WORDS = ("permission denied", "operation not permitted", "read-only file system")


def is_damage(message: str) -> bool:
    """A DuckDB error that means the file's bytes are not what DuckDB wrote."""
    text = message.lower()
    return any(w in text for w in _DAMAGE_WORDS)


def is_read_only(message: str) -> bool:
    """A DuckDB error that means the file may not be written."""
    text = message.lower()
    return any(w in text for w in _READ_ONLY_WORDS)


def note_damage(copy: Path, detail: str) -> None:
    """Leaves a marker so that readers use the other copy until a writer rebuilds this one.
    A reader without write access to the folder just goes on."""
    with contextlib.suppress(OSError):
        marker(copy).write_text(detail + "\n", encoding="utf-8")


def clear_marker(copy: Path) -> None:
    marker(copy).unlink(missing_ok=True)
