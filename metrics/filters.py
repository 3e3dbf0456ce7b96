"""The filter every metric takes: a period, and the matters, departments, channels, windows and
staff a user can narrow to (the --from, --to, --matter, --department, --channel, --window and
--staff of `onewindow report`), and the reforms the `reforms` report is narrowed to (--reform).

Windows and staff cut applications by the window and staff member that handled them: those on
the application record, else those of its acceptance step (the facts' `window_id`, `staff`)."""

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
    windows: tuple[str, ...] = ()
    staff: tuple[str, ...] = ()
    reforms: tuple[str, ...] = ()  # reform ids: only the `reforms` report takes them

    @property
    def cuts_applications(self) -> bool:
        """True when the filter keeps only some applications (not only a period)."""
        return bool(self.matters or self.departments or self.channels or self.windows or self.staff)

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
