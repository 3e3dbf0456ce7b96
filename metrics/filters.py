"""The filter every metric takes: a period, and the matters, departments, channels, windows and
staff a user can narrow to (the --from, --to, --matter, --department, --channel, --window and
--staff of `onewindow report`), and the reforms the `reforms` report is narrowed to (--reform).

Windows and staff cut applications by the window and staff member that handled them: those on
the application record, else those of its acceptance step (the facts' `window_id`, `staff`)."""

from __future__ import annotations

from dataclasses import dataclass, replace
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

    def within(self, scope: Scope) -> Filters:
        """These filters cut down to what `scope` lets its holder see: each scoped dimension
        keeps the asked values that the scope allows, all of the scope's values when none were
        asked, and nothing at all (a value no row has) when none of the asked ones is allowed.
        A URL or a download can narrow a supervisor's view, never widen it."""
        return replace(
            self,
            departments=_within(self.departments, scope.departments),
            windows=_within(self.windows, scope.windows),
        )


# Stands for "no value at all": an empty tuple means "every value" to a Filters.
NOTHING = "\u2205 (outside your scope)"


@dataclass(frozen=True)
class Scope:
    """The departments and windows a session may see; None: every one (no limit)."""

    departments: frozenset[str] | None = None
    windows: frozenset[str] | None = None

    @property
    def limited(self) -> bool:
        return self.departments is not None or self.windows is not None

    def allows_department(self, department: str | None) -> bool:
        return self.departments is None or department in self.departments


EVERYTHING = Scope()


def _within(asked: tuple[str, ...], allowed: frozenset[str] | None) -> tuple[str, ...]:
    if allowed is None:
        return asked
    kept = tuple(v for v in asked if v in allowed) if asked else tuple(sorted(allowed))
    return kept or (NOTHING,)
