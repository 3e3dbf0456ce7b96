"""The filter every metric takes: a period, and the matters, departments and channels a user
can narrow to (the --from, --to, --matter, --department and --channel of `onewindow report`),
and the reforms the `reforms` report is narrowed to (--reform)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class Filters:
    start: date | None = None  # first day included
    end: date | None = None  # last day included
    matters: tuple[str, ...] = ()
    departments: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    reforms: tuple[str, ...] = ()  # reform ids: only the `reforms` report takes them

    def period_sql(self, column: str, zone: str) -> tuple[str, list[object]]:
        """A WHERE fragment keeping rows whose instant `column` falls in the period, in
        `zone`'s days."""
        return self.days_sql(f"({column} AT TIME ZONE '{zone}')::DATE")

    def days_sql(self, day: str) -> tuple[str, list[object]]:
        """The same for an expression that already is the local day (a DATE)."""
        parts: list[str] = ["TRUE"]
        params: list[object] = []
        if self.start is not None:
            parts.append(f"{day} >= ?")
            params.append(self.start)
        if self.end is not None:
            parts.append(f"{day} <= ?")
            params.append(self.end)
        return " AND ".join(parts), params
