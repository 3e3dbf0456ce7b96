"""The warehouse: schema, migrations and the one class that owns connections."""

from warehouse.errors import WarehouseBusy, WarehouseError, WarehouseMissing, WarehouseTooNew
from warehouse.warehouse import Applier, Warehouse, Writer

__all__ = [
    "Applier",
    "Warehouse",
    "WarehouseBusy",
    "WarehouseError",
    "WarehouseMissing",
    "WarehouseTooNew",
    "Writer",
]
