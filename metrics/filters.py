"""The filter every metric takes: a period, and the matters, departments, channels, windows and
staff a user can narrow to (the --from, --to, --matter, --department, --channel, --window and
--staff of `onewindow report`), and the reforms the `reforms` report is narrowed to (--reform).

Windows and staff cut applications by the window and staff member that handled them: those on
the application record, else those of its acceptance step (the facts' `window_id`, `staff`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from warehouse.sql import Params


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

    def app_params(self) -> Params:
        """The application cuts as named parameters: `f_matters`, `f_departments`,
        `f_channels`, `f_windows`, `f_staff` (those the filter sets)."""
        cuts = {
            "f_matters": self.matters,
            "f_departments": self.departments,
            "f_channels": self.channels,
            "f_windows": self.windows,
            "f_staff": self.staff,
        }
        return {name: list(values) for name, values in cuts.items() if values}

    def period_sql(self, column: str, zone: str) -> tuple[str, Params]:
        """A WHERE fragment keeping rows whose instant `column` falls in the period, in
        `zone`'s days (bound as `$zone`)."""
        where, params = self.days_sql(f"({column} AT TIME ZONE $zone)::DATE")
        return where, {**params, "zone": zone}

    def days_sql(self, day: str) -> tuple[str, Params]:
        """The same for an expression that already is the local day (a DATE), with the
        period's first and last day bound as `$f_start` and `$f_end`."""
        parts: list[str] = ["TRUE"]
        params: Params = {}
        if self.start is not None:
            parts.append(f"{day} >= $f_start")
            params["f_start"] = self.start
        if self.end is not None:
            parts.append(f"{day} <= $f_end")
            params["f_end"] = self.end
        return " AND ".join(parts), params
