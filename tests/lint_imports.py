"""Check the import contracts of pyproject.toml (import-linter) on the installed layout.

    python tests/lint_imports.py

The folders ingest/, analytics/, store/, exchange/, web/ and simulator/ are installed as
``mda.<folder>`` (pyproject's package-dir), which import-linter cannot see in the source
tree: it finds a package's modules by walking its folder. So this lays the tree out as the
wheel has it (``mda/`` with the shell's files and a link per folder) in a temporary
directory, and runs ``lint-imports`` there with the repository's contracts. Exit status is
import-linter's: 0 when every contract holds. Run by ``make test``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def installed_layout(into: Path) -> Path:
    """``into/mda`` laid out as installed, by symbolic links into the repository."""
    package_dir = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-dir"
    ]
    root = into / "mda"
    root.mkdir()
    for entry in (REPO / package_dir["mda"]).iterdir():
        if entry.name != "__pycache__":
            (root / entry.name).symlink_to(entry)
    for name, folder in package_dir.items():
        if name != "mda":
            (root / name.split(".", 1)[1]).symlink_to(REPO / folder, target_is_directory=True)
    return into


def main() -> int:
    lint = Path(sys.executable).with_name("lint-imports")
    with tempfile.TemporaryDirectory(prefix="mda-layout-") as tmp:
        layout = installed_layout(Path(tmp))
        env = {**os.environ, "PYTHONPATH": str(layout)}
        return subprocess.run(
            [str(lint), "--config", str(REPO / "pyproject.toml"), "--no-cache"],
            cwd=layout,
            env=env,
        ).returncode


if __name__ == "__main__":
    sys.exit(main())
