"""Warehouse problems worth one plain line to the user."""


class WarehouseError(Exception):
    pass


class WarehouseMissing(WarehouseError):
    """No warehouse at the path yet."""


class WarehouseBusy(WarehouseError):
    """Another process holds the write lock (or a reader holds a copy) for too long."""


class WarehouseTooNew(WarehouseError):
    """The warehouse was written by a newer OneWindow; this one must not touch it."""
