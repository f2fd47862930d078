"""Who may see and change what: every route asks here, on the server, for every request."""

from __future__ import annotations

from dataclasses import dataclass

from compstat.config import Config, iter_units
from compstat.hierarchy import division_leaves
from compstat.store import WebUser

EVERY_UNIT_ROLES = ("chair", "analyst", "admin")


@dataclass(frozen=True)
class Viewer:
    """The signed-in person, as a request sees them."""

    user_id: int
    username: str
    display_name: str
    role: str
    units: tuple[str, ...]  # as granted: leaf units (commander) or divisions (division commander)

    @classmethod
    def of(cls, user: WebUser) -> Viewer:
        return cls(user.id, user.username, user.display_name, user.role,
                   tuple(u for u in user.units.split(",") if u))

    @property
    def sees_every_unit(self) -> bool:
        return self.role in EVERY_UNIT_ROLES


def leaf_units_of(viewer: Viewer, config: Config) -> list[str]:
    """The leaf units whose actions and packs ``viewer`` may read and change, in config order."""
    leaves = [u.code for u in config.leaf_units]
    if viewer.sees_every_unit:
        return leaves
    if viewer.role == "division":
        below = division_leaves(config)
        granted = {leaf for d in viewer.units for leaf in below.get(d, [])}
    else:
        granted = set(viewer.units)
    return [code for code in leaves if code in granted]


def may_see_unit(viewer: Viewer, config: Config, unit_code: str) -> bool:
    return unit_code in leaf_units_of(viewer, config) or (
        viewer.role == "division" and unit_code in viewer.units) or (
        viewer.sees_every_unit and unit_code in {u.code for u in iter_units(config.units)})


def may_change_actions(viewer: Viewer, config: Config, unit_code: str) -> bool:
    """Commanders and division commanders change their units' actions; the chair and analysts any unit's;
    an admin manages accounts only."""
    if viewer.role == "admin":
        return False
    return unit_code in leaf_units_of(viewer, config)
