"""The roles, lowest first; each may do what the ones before it may. A module of its own so
the command line can list them without importing the web stack."""

__all__ = ["ROLES"]

ROLES = ("viewer", "officer", "supervisor", "admin")
