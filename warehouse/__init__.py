"""The warehouse: schema, migrations and the one class that owns connections."""

from warehouse.errors import WarehouseBusy, WarehouseError, WarehouseMissing, WarehouseTooNew
from warehouse.warehouse import Applier, Resources, Warehouse, Writer

__all__ = [
    "Applier",
    "Resources",
    "Warehouse",
    "WarehouseBusy",
    "WarehouseError",
    "WarehouseMissing",
    "WarehouseTooNew",
    "Writer",
]
