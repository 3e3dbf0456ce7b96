"""The warehouse: schema, migrations and the one class that owns connections."""

from warehouse.migrations import WarehouseTooNew
from warehouse.warehouse import (
    Applier,
    Warehouse,
    WarehouseBusy,
    WarehouseError,
    WarehouseMissing,
    Writer,
)

__all__ = [
    "Applier",
    "Warehouse",
    "WarehouseBusy",
    "WarehouseError",
    "WarehouseMissing",
    "WarehouseTooNew",
    "Writer",
]
