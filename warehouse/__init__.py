"""The warehouse: schema, migrations and the one class that owns connections."""

from warehouse.errors import (
    CopyUnusable,
    FollowUpFailed,
    WarehouseBusy,
    WarehouseDamaged,
    WarehouseError,
    WarehouseMissing,
    WarehouseTooNew,
)
from warehouse.warehouse import Applier, CopyHealth, Resources, Warehouse, Writer, generation

__all__ = [
    "Applier",
    "CopyHealth",
    "CopyUnusable",
    "FollowUpFailed",
    "Resources",
    "Warehouse",
    "WarehouseBusy",
    "WarehouseDamaged",
    "WarehouseError",
    "WarehouseMissing",
    "WarehouseTooNew",
    "Writer",
    "generation",
]
