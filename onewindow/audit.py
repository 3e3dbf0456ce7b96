"""The audit trail: one record per security-relevant event (who, when, what, result), appended
to the security store (onewindow/store.py) at once by the dashboard, the command line and the
ETL. Each record carries the hash of the one before it, so `onewindow audit verify` finds a
record deleted or altered in the store; the head (last sequence number and hash) is also kept
in a file beside the store, so cutting records off the end is found too.

Records older than the retention period are pruned together with a *checkpoint* record appended
to the chain; it names the last pruned record and its hash, which the first kept record points
at, so the shortened chain still verifies."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from onewindow.private import write_private
from onewindow.store import connect

GENESIS = "0" * 64
CHECKPOINT = "audit.checkpoint"

# Every event class the trail records (docs/security.md lists them).
EVENTS = (
    "login",
    "logout",
    "login.failed",
    "login.locked",
    "session.timeout",
    "password.change",
    "download",
    "export",
    "upload",
    "load",
    "reform.save",
    "reform.delete",
    "alerts.settings",
    "user.add",
    "user.disable",
    "user.enable",
    "user.reset_password",
    "user.set_role",
    "denied",
    "audit.export",
    "audit.prune",
    CHECKPOINT,
)


@dataclass(frozen=True)
class Record:
    seq: int
    at: str  # ISO 8601, UTC
    actor: str
    event: str
    target: str
    result: str  # ok, refused, failed
    detail: str  # JSON
    prev_hash: str
    hash: str

    def expected_hash(self) -> str:
        return chain_hash(
            self.prev_hash,
            self.seq,
            self.at,
            self.actor,
            self.event,
            self.target,
            self.result,
            self.detail,
        )


def chain_hash(prev: str, seq: int, *fields: str) -> str:
    payload = json.dumps([prev, seq, *fields], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


class AuditError(Exception):
    pass


class AuditTrail:
    def __init__(self, store: Path) -> None:
        self.store = store
        self.head_file = store.with_name(store.name + ".audit-head")

    def record(
        self,
        actor: str,
        event: str,
        target: str = "",
        result: str = "ok",
        at: datetime | None = None,
        **detail: Any,
    ) -> Record:
        if event not in EVENTS:
            raise AuditError(f"unknown audit event {event!r}")
        with connect(self.store) as con:
            return self._append(con, actor, event, target, result, at, detail)

    def _append(
        self,
        con: sqlite3.Connection,
        actor: str,
        event: str,
        target: str,
        result: str,
        at: datetime | None,
        detail: dict[str, Any],
    ) -> Record:
        last = con.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        seq, prev = (int(last[0]) + 1, str(last[1])) if last else (1, GENESIS)
        stamp = (at or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="microseconds")
        text = json.dumps(detail, ensure_ascii=False, sort_keys=True, default=str)
        digest = chain_hash(prev, seq, stamp, actor, event, target, result, text)
        con.execute(
            "INSERT INTO audit VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [seq, stamp, actor, event, target, result, text, prev, digest],
        )
        write_private(self.head_file, f"{seq} {digest}\n".encode())
        return Record(seq, stamp, actor, event, target, result, text, prev, digest)

    def records(self) -> list[Record]:
        with connect(self.store) as con:
            rows = con.execute("SELECT * FROM audit ORDER BY seq").fetchall()
        return [Record(*r) for r in rows]

    def verify(self) -> list[str]:
        """Every break of the chain, in plain words; empty when the trail is intact."""
        return verify_records(self.records(), self._head())

    def _head(self) -> tuple[int, str] | None:
        if not self.head_file.exists():
            return None
        seq, _, digest = self.head_file.read_text().strip().partition(" ")
        return int(seq), digest

    def prune(self, retention_days: int, now: datetime | None = None, actor: str = "system") -> int:
        """Deletes records older than the retention period, anchored by a checkpoint record;
        returns how many were deleted."""
        now = now or datetime.now(UTC)
        cutoff = (now - timedelta(days=retention_days)).astimezone(UTC).isoformat()
        with connect(self.store) as con:
            old = con.execute(
                "SELECT max(seq) FROM audit WHERE at < ? AND seq < (SELECT max(seq) FROM audit)",
                [cutoff],
            ).fetchone()
            through = old[0] if old else None
            if through is None:
                return 0
            anchor = con.execute("SELECT hash FROM audit WHERE seq = ?", [through]).fetchone()[0]
            first = con.execute("SELECT min(seq) FROM audit").fetchone()[0]
            con.execute("DELETE FROM audit WHERE seq <= ?", [through])
            self._append(
                con,
                actor,
                CHECKPOINT,
                "audit",
                "ok",
                now,
                {
                    "pruned_from": first,
                    "pruned_through": through,
                    "anchor": anchor,
                    "retention_days": retention_days,
                },
            )
        return int(through) - int(first) + 1

    def export_csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["seq", "at", "actor", "event", "target", "result", "detail", "hash"])
        for r in self.records():
            writer.writerow([r.seq, r.at, r.actor, r.event, r.target, r.result, r.detail, r.hash])
        return out.getvalue()


def verify_records(records: list[Record], head: tuple[int, str] | None) -> list[str]:
    problems: list[str] = []
    if not records:
        if head is not None:
            problems.append(f"the trail is empty but its head says record {head[0]} exists")
        return problems
    anchors = {
        json.loads(r.detail)["pruned_through"]: json.loads(r.detail)["anchor"]
        for r in records
        if r.event == CHECKPOINT and r.expected_hash() == r.hash
    }
    first = records[0]
    expected_prev = GENESIS if first.seq == 1 else anchors.get(first.seq - 1)
    if expected_prev is None:
        problems.append(f"records before {first.seq} are missing and no checkpoint anchors them")
    previous: Record | None = None
    for r in records:
        if previous is not None:
            if r.seq != previous.seq + 1:
                problems.append(f"records {previous.seq + 1}–{r.seq - 1} are missing")
            expected_prev = previous.hash
        if expected_prev is not None and r.prev_hash != expected_prev:
            problems.append(f"record {r.seq} does not follow the record before it")
        if r.expected_hash() != r.hash:
            problems.append(f"record {r.seq} was altered")
        previous = r
    if head is not None:
        last = records[-1]
        if head[0] > last.seq:
            problems.append(f"records {last.seq + 1}–{head[0]} are missing from the end")
        elif head[0] == last.seq and head[1] != last.hash:
            problems.append(f"record {last.seq} differs from the trail's head")
    return problems


def iter_dicts(records: list[Record]) -> Iterator[dict[str, object]]:
    for r in records:
        yield {
            "seq": r.seq,
            "at": r.at,
            "actor": r.actor,
            "event": r.event,
            "target": r.target,
            "result": r.result,
            "detail": r.detail,
        }
