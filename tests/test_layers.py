"""The structure, checked: each package imports only the layers beneath it, the web holds
no SQL, and the command line's account commands do without the web.

Layers, lowest first: ``ingest`` < ``analytics`` < ``store`` < ``exchange`` < ``web`` <
``mda`` (the shell). A package may import its own modules and those of lower layers, never
a higher one. ``simulator`` stands beside them: it may use ``ingest`` and ``analytics``, and
only the shell uses it. Each folder is installed as ``mda.<folder>`` (the shell is ``mda``
itself). Read from the source (no imports run), so a lazy import inside a function counts
too. The same contract, for the tool, is the import-linter configuration in pyproject.toml
(``make test`` runs ``lint-imports``).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("ingest", "analytics", "store", "exchange", "web", "mda")
SIMULATOR = "simulator"
FOLDERS = (*LAYERS[:-1], SIMULATOR)  # installed as mda.<folder>


def _sources(package: str) -> list[Path]:
    return sorted(p for p in (ROOT / package).rglob("*.py") if "__pycache__" not in p.parts)


def test_every_package_is_installed_under_mda():
    """pyproject lists every package folder (the wheel would silently lack one)."""
    import tomllib

    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = set()
    for folder in LAYERS:
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT).parts
            found.add(".".join(("mda", *rel[1:])) if rel[0] == "mda" else ".".join(("mda", *rel)))
    for init in (ROOT / SIMULATOR).rglob("__init__.py"):
        found.add(".".join(("mda", *init.parent.relative_to(ROOT).parts)))
    assert found == listed


def _layer(name: str) -> str | None:
    """The layer (folder) of an absolute module name: ``mda.store.alerts`` -> ``store``,
    ``mda.cli`` -> ``mda``; None for other distributions' modules."""
    parts = name.split(".")
    if parts[0] != "mda":
        return None
    return parts[1] if len(parts) > 1 and parts[1] in FOLDERS else "mda"


def _imported(path: Path) -> set[str]:
    """The layers of this repository a module imports (absolute imports)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        if isinstance(node, ast.ImportFrom) and node.module == "mda":
            names = [f"mda.{a.name}" for a in node.names]  # from mda import analytics
        out |= {layer for layer in map(_layer, names) if layer is not None}
    return out


@pytest.mark.parametrize("package", LAYERS)
def test_each_package_imports_only_the_layers_beneath_it(package):
    above = set(LAYERS[LAYERS.index(package) + 1 :])
    wrong = {str(p.relative_to(ROOT)): sorted(_imported(p) & above) for p in _sources(package)}
    assert {k: v for k, v in wrong.items() if v} == {}


def test_the_simulator_stands_beside_the_layers():
    """It may use the pure packages (ingest, analytics), nothing of the store, the web or
    the shell; of the layers, only the shell uses it."""
    wrong = {
        str(p.relative_to(ROOT)): sorted(_imported(p) - {"ingest", "analytics", SIMULATOR})
        for p in _sources(SIMULATOR)
    }
    assert {k: v for k, v in wrong.items() if v} == {}
    users = [
        str(p.relative_to(ROOT))
        for package in LAYERS[:-1]
        for p in _sources(package)
        if SIMULATOR in _imported(p)
    ]
    assert users == []


def test_the_cli_commands_import_nothing_from_the_web():
    """``mda user``, ``mda token`` and the demo's link call ``store.accounts``; only the
    service wiring (``mda/service.py``) starts the web."""
    wrong = [
        str(p.relative_to(ROOT))
        for p in sorted((ROOT / "mda" / "commands").glob("*.py"))
        if "web" in _imported(p)
    ]
    assert wrong == []


# SQL as it is written in this code base: upper-case keywords, or a cursor call.
_SQL = re.compile(
    r"\.execute(many)?\(|\.cursor\(|\bSELECT\b|\bINSERT\s+INTO\b|\bUPDATE\s+\w+\s+SET\b"
    r"|\bDELETE\s+FROM\b|\bON\s+CONFLICT\b|\bRETURNING\b"
)


def test_no_sql_in_the_web():
    """Every statement lives in ``store/``: routes call functions that take a connection."""
    found = [
        f"{p.relative_to(ROOT)}:{i}: {line.strip()}"
        for p in _sources("web")
        for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if _SQL.search(line)
    ]
    assert found == []


def test_every_route_is_in_a_routes_module(tmp_path):
    """``create_app`` assembles; the routes themselves live in ``web/routes/``."""
    from fastapi.routing import APIRoute, APIWebSocketRoute

    from mda.settings import load_settings
    from mda.web.app import create_app

    app = create_app(load_settings(environ={"MDA_DATA_DIR": str(tmp_path)}), "postgresql://unused")
    routes = [r for r in _flat(app.router.routes) if isinstance(r, (APIRoute, APIWebSocketRoute))]
    assert len(routes) > 20
    outside = [
        (r.path, r.endpoint.__module__)
        for r in routes
        if not r.endpoint.__module__.startswith("mda.web.routes.")
    ]
    assert outside == []


def _flat(routes):
    """Routes, with those of included routers (FastAPI may keep them behind a wrapper)."""
    for r in routes:
        inner = getattr(r, "original_router", None)
        if inner is not None:
            yield from _flat(inner.routes)
        else:
            yield r
