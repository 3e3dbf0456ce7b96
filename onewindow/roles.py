"""Who may do what: each role is a set of permissions, in this one table (docs/security.md
prints it). A user may hold several roles; they get the union of the permissions. System
administration, security administration and audit are separate roles (三权分立): the
administrator manages accounts and sees no business data, the auditor sees the trail only, and
neither can act on the other's ground."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from metrics.filters import EVERYTHING, Scope


class Perm(StrEnum):
    FIGURES = "figures"  # the center's KPI pages (overview … satisfaction)
    APPLICATIONS = "applications"  # lists of single applications (cards, bad reviews, staff)
    REFORMS = "reforms"  # the reform page's figures
    REFORMS_EDIT = "reforms.edit"  # the reform registry's forms
    DATA_HEALTH = "data.health"  # runs, failed files, quarantine, calendar gaps
    UPLOAD = "data.upload"  # the upload box: files through the ETL
    USERS = "users"  # accounts and roles
    AUDIT = "audit"  # the audit trail


@dataclass(frozen=True)
class Role:
    name: str
    title_zh: str
    title_en: str
    perms: frozenset[Perm]
    scoped: bool = False  # figures limited to the user's departments / windows


ROLES: dict[str, Role] = {
    r.name: r
    for r in (
        Role(
            "director",
            "中心主任",
            "Center director",
            frozenset({Perm.FIGURES, Perm.APPLICATIONS, Perm.REFORMS}),
        ),
        Role(
            "supervisor",
            "窗口负责人",
            "Window supervisor",
            frozenset({Perm.FIGURES, Perm.APPLICATIONS}),
            scoped=True,
        ),
        Role(
            "reform_officer",
            "改革专员",
            "Reform officer",
            frozenset({Perm.FIGURES, Perm.REFORMS, Perm.REFORMS_EDIT}),
        ),
        Role(
            "data_steward",
            "数据管理员",
            "Data steward",
            frozenset({Perm.DATA_HEALTH, Perm.UPLOAD}),
        ),
        Role("administrator", "系统管理员", "Administrator", frozenset({Perm.USERS})),
        Role("auditor", "安全审计员", "Auditor", frozenset({Perm.AUDIT})),
    )
}


class UnknownRole(ValueError):
    pass


def check_roles(names: Iterable[str]) -> frozenset[str]:
    unknown = sorted(set(names) - set(ROLES))
    if unknown:
        raise UnknownRole(f"unknown role {', '.join(unknown)}; roles are {', '.join(ROLES)}")
    return frozenset(names)


@dataclass(frozen=True)
class Principal:
    """Who a session is: the user, their roles, and (for a supervisor) their departments and
    windows. Everything the dashboard shows or does is checked against this."""

    username: str
    roles: frozenset[str]
    departments: frozenset[str] = frozenset()
    windows: frozenset[str] = frozenset()
    demo: bool = False

    @property
    def perms(self) -> frozenset[Perm]:
        return frozenset(p for r in self.roles if r in ROLES for p in ROLES[r].perms)

    def can(self, perm: Perm) -> bool:
        return perm in self.perms

    @property
    def scope(self) -> Scope:
        """Center-wide when any role that shows figures is not scoped; else the supervisor's
        departments and windows (an empty list of both: nothing at all)."""
        showing = [ROLES[r] for r in self.roles if r in ROLES and Perm.FIGURES in ROLES[r].perms]
        if not showing or any(not r.scoped for r in showing):
            return EVERYTHING
        return Scope(
            departments=self.departments if self.departments or not self.windows else None,
            windows=self.windows or None,
        )

    def to_json(self) -> str:
        return json.dumps(
            {
                "username": self.username,
                "roles": sorted(self.roles),
                "departments": sorted(self.departments),
                "windows": sorted(self.windows),
            },
            ensure_ascii=False,
        )
