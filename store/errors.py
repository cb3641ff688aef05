"""The store's error root: database problems translated where they enter, with the URL masked."""

__all__ = ["StoreError", "DatabaseUnavailable", "MigrationError"]


class StoreError(Exception):
    """A database problem a user can act on; the message names what and where."""


class DatabaseUnavailable(StoreError):
    """The database cannot be reached or refused us (wrong host, port, password, name)."""


class MigrationError(StoreError):
    """A schema migration failed; the database is left at the previous version."""
