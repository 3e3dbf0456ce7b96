"""Personal data found where no profile declared it: ID-card numbers (GB 11643-1999, with their
check digit), mobile numbers and e-mail addresses in
any text a load stores (canonical text columns, quarantined rows and reasons, error messages).

A match is replaced by a mask derived from a keyed hash of the normalised number (HMAC-SHA256
with the pseudonymization secret): the same number always gives the same mask, so an
application id that embeds an ID number still joins its steps, and the number cannot be
recovered without the key (which never lives in the data folder). Without a key (a load whose
profile maps no applicant id, with no secret configured) the mask is the kind alone.

Bank card numbers are not looked for: a long numeric application id passes their Luhn check one
time in ten, and masking a tenth of the ids would make applications impossible to look up.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from etl.profile import Profile
from etl.readers import ROW, UnreadableFile, read_frame
from onewindow.private import private_dir
from onewindow.store import connect, store_path
from warehouse import Warehouse

# Candidates, in Rust regex syntax (no look-around) for a fast first pass in Polars.
_PREFILTER = r"\d{17}[\dXx]|1[3-9]\d[- ]?\d{4}[- ]?\d{4}|@[\w-]+\."

_ID = re.compile(
    r"(?<![0-9])([1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx])"
    r"(?![0-9])"
)
_MOBILE = re.compile(r"(?<![0-9])(?:\+?86[- ]?)?(1[3-9]\d[- ]?\d{4}[- ]?\d{4})(?![0-9])")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")


class KeyedHash:
    """HMAC-SHA256 under one key, for hashing millions of short values: the key's inner and
    outer pads are hashed once (RFC 2104) and each value continues copies of them, about
    2.5 times faster than `hmac.new` per value. Equal to `hmac.new(key, value, sha256)`
    (tests/test_pii.py)."""

    def __init__(self, key: bytes) -> None:
        block = hashlib.sha256().block_size
        if len(key) > block:
            key = hashlib.sha256(key).digest()
        key = key.ljust(block, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))

    def hex(self, value: bytes) -> str:
        inner = self._inner.copy()
        inner.update(value)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()


_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"


def id_check_digit(first17: str) -> str:
    """GB 11643-1999: ISO 7064 MOD 11-2 over the first 17 digits."""
    return _CHECK[sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True)) % 11]


def is_id_number(text: str) -> bool:
    return bool(_ID.fullmatch(text)) and id_check_digit(text[:17]) == text[17].upper()


KINDS = ("id_card", "mobile", "email")


@dataclass(frozen=True)
class Masker:
    key: bytes | None
    _hash: KeyedHash | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_hash", KeyedHash(self.key) if self.key is not None else None)

    def token(self, kind: str, value: str) -> str:
        label = {"id_card": "ID", "mobile": "TEL", "email": "MAIL"}[kind]
        if self._hash is None:
            return f"[{label}]"
        return f"[{label}:{self._hash.hex(f'{kind}:{value}'.encode())[:12]}]"

    def mask(self, text: str, seen: dict[str, int] | None = None) -> str:
        """The text with every personal number in it masked; `seen` counts them by kind."""

        def sub(
            kind: str, norm: Callable[[str], str], ok: Callable[[str], bool]
        ) -> Callable[[re.Match[str]], str]:
            def one(m: re.Match[str]) -> str:
                value = norm(m.group(m.lastindex or 0))
                if not ok(value):
                    return m.group(0)
                if seen is not None:
                    seen[kind] = seen.get(kind, 0) + 1
                return self.token(kind, value)

            return one

        text = _ID.sub(sub("id_card", str.upper, is_id_number), text)
        text = _MOBILE.sub(sub("mobile", lambda v: re.sub(r"\D", "", v), lambda v: True), text)
        return _EMAIL.sub(sub("email", str.lower, lambda v: True), text)


def mask_text(text: str, key: bytes | None = None) -> str:
    return Masker(key).mask(text)


def mask_series(values: pl.Series, masker: Masker) -> tuple[pl.Series, dict[str, int]]:
    """Masks a text column; returns it and the number of cells with each kind of match."""
    if values.dtype != pl.String or values.is_empty():
        return values, {}
    candidates = values.filter(values.str.contains(_PREFILTER).fill_null(False)).unique()
    if candidates.is_empty():
        return values, {}
    masked: dict[str, str] = {}
    kinds: dict[str, set[str]] = {}
    for value in candidates.to_list():
        seen: dict[str, int] = {}
        out = masker.mask(value, seen)
        if out != value:
            masked[value] = out
            for kind in seen:
                kinds.setdefault(kind, set()).add(value)
    if not masked:
        return values, {}
    counts = {kind: int(values.is_in(list(found)).sum()) for kind, found in kinds.items()}
    return values.replace(masked), counts


@dataclass(frozen=True)
class Finding:
    column: str
    kind: str
    cells: int


def mask_frame(
    frame: pl.DataFrame, masker: Masker, skip: Iterable[str] = ()
) -> tuple[pl.DataFrame, list[Finding]]:
    """Every text column but `skip` masked; the findings per column and kind."""
    findings: list[Finding] = []
    skipped = set(skip)
    replaced: list[pl.Series] = []
    for name, dtype in frame.schema.items():
        if dtype != pl.String or name in skipped:
            continue
        series, counts = mask_series(frame[name], masker)
        if counts:
            replaced.append(series)
            findings += [Finding(name, k, n) for k, n in sorted(counts.items())]
    return (frame.with_columns(replaced) if replaced else frame), findings


class Scrubber:
    """Masks personal numbers in everything a file's load will store, as it goes: its
    canonical rows a batch at a time (the applicant key, already a keyed hash, aside), the
    conflicts between its rows, and its quarantined rows and their reasons; counts them."""

    def __init__(self, key: bytes | None) -> None:
        self.masker = Masker(key)
        self.found: dict[tuple[str, str], int] = {}
        self.quarantined: dict[str, int] = {}

    def rows(self, frame: pl.DataFrame) -> pl.DataFrame:
        frame, findings = mask_frame(frame, self.masker, skip=("applicant_key",))
        for f in findings:
            self.found[(f.column, f.kind)] = self.found.get((f.column, f.kind), 0) + f.cells
        return frame

    def conflicts(self, frame: pl.DataFrame) -> pl.DataFrame:
        return mask_frame(frame, self.masker)[0]

    def quarantine(self, frame: pl.DataFrame) -> pl.DataFrame:
        frame, findings = mask_frame(frame, self.masker)
        for f in findings:
            if f.column == "raw":  # the reason quotes a cell of the row's raw values
                self.quarantined[f.kind] = self.quarantined.get(f.kind, 0) + f.cells
        return frame

    def findings(self) -> list[Finding]:
        found = [Finding(column, kind, n) for (column, kind), n in self.found.items()]
        return found + [Finding(QUARANTINED, k, n) for k, n in sorted(self.quarantined.items())]


QUARANTINED = "(quarantined rows)"


def record_findings(wh: Warehouse, run_id: int, findings: list[tuple[str, Finding]]) -> None:
    """Keeps the run's counts in the security store, for the Data health page."""
    if not findings:
        return
    now = time.time()
    with connect(store_path(wh.home)) as con:
        con.executemany(
            "INSERT INTO pii_findings VALUES (?, ?, ?, ?, ?, ?)",
            [(run_id, path, f.column, f.kind, f.cells, now) for path, f in findings],
        )


def stored_findings(wh: Warehouse) -> pl.DataFrame:
    """Per run, file, column and kind: how many cells held a personal number, now masked."""
    schema = {
        "run_id": pl.Int64,
        "path": pl.String,
        "column": pl.String,
        "kind": pl.String,
        "cells": pl.Int64,
    }
    store = store_path(wh.home)
    if not store.exists():
        return pl.DataFrame(schema=schema)
    with connect(store) as con:
        rows = con.execute(
            "SELECT run_id, path, column_name, kind, sum(found) FROM pii_findings"
            " GROUP BY run_id, path, column_name, kind"
            " ORDER BY run_id DESC, path, column_name, kind"
        ).fetchall()
    return pl.DataFrame(rows, schema=schema, orient="row")


NOT_KEPT = (
    "the file itself was not kept: it may hold personal data. Fix the export and put it in "
    "the inbox again."
)


def archive_copy(
    path: Path, profile: Profile | None, target: Path, key: bytes | None
) -> Path | None:
    """A copy of a loaded file without its personal columns: the mapped columns as UTF-8 CSV
    (loadable again by the same profile), the values of personal columns and of the applicant
    id emptied and personal numbers elsewhere masked. None when it cannot be read again."""
    table = profile.table_for(path, strict=False) if profile is not None else None
    if profile is None or table is None:
        return None
    src = profile.tables[table]  # type: ignore[index]
    try:
        with tempfile.TemporaryDirectory() as scratch:
            frame = read_frame(path, src, Path(scratch)).drop(ROW)
    except UnreadableFile:
        return None
    hidden = [c for c in frame.columns if c in src.hidden_columns()]
    frame = frame.with_columns(pl.lit(None, pl.String).alias(c) for c in hidden)
    frame, _ = mask_frame(frame, Masker(key))  # the masks the warehouse has
    target = target if target.suffix.lower() in (".csv", ".txt") else target.with_suffix(".csv")
    private_dir(target.parent)
    frame.write_csv(target, separator=src.delimiter)
    return target
