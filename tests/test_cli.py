"""The command line as a newcomer and an operator meet it: install, help, settings, errors."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = ["demo", "serve", "ingest", "analyze"]


def run_mda(
    *args: str, env: dict | None = None, cwd: Path | None = None, exe: list[str] | None = None
) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("MDA_")}
    full_env.update(env or {})
    return subprocess.run(
        [*(exe or [sys.executable, "-m", "mda"]), *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=120,
    )


@pytest.fixture(scope="module")
def installed_wheel(tmp_path_factory) -> Path:
    """`pip install .` of a freshly built wheel into a new virtual environment.

    The dependencies come from the test environment (PYTHONPATH) so no download is needed;
    the package itself, with its data files, comes only from the wheel."""
    tmp = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp / "dist"),
            str(ROOT),
        ],
        check=True,
        timeout=300,
    )
    wheel = next((tmp / "dist").glob("mda-*.whl"))
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(venv / "bin" / "python"),
            "install",
            "-q",
            "--no-deps",
            str(wheel),
        ],
        check=True,
        timeout=300,
    )
    return venv


def _wheel_env(venv: Path) -> dict:
    return {"PYTHONPATH": sysconfig.get_paths()["purelib"]}


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_installed_wheel_has_help_for_every_command(installed_wheel, command, tmp_path):
    args = ["--help"] if command is None else [command, "--help"]
    # Run from an empty folder so nothing of the source tree can be imported by accident.
    r = run_mda(
        *args,
        exe=[str(installed_wheel / "bin" / "mda")],
        env=_wheel_env(installed_wheel),
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    assert "usage: mda" in r.stdout
    if command is None:
        for name in COMMANDS:
            assert name in r.stdout


def test_installed_wheel_carries_its_migrations(installed_wheel, embedded_db_url, tmp_path):
    r = run_mda(
        "db",
        "upgrade",
        "--database",
        embedded_db_url,
        exe=[str(installed_wheel / "bin" / "mda")],
        env=_wheel_env(installed_wheel),
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    assert "0001_core.sql" in r.stdout


@pytest.mark.parametrize(
    "url, shown, reason",
    [
        (
            "postgresql://watch:hunter2@127.0.0.1:1/mda",
            "postgresql://watch:***@127.0.0.1:1/mda",
            "refused",
        ),
        ("not a url at all", "<unparseable database URL>", "missing"),
    ],
)
def test_bad_database_url_gives_one_clear_line(url, shown, reason):
    r = run_mda("db", "status", "--database", url)
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("mda: error: cannot connect to database ")
    assert shown in lines[0] and reason in lines[0].lower()
    assert "hunter2" not in r.stderr and "Traceback" not in r.stderr


def test_wrong_database_name_is_named(embedded_pg):
    url = embedded_pg.replace("/postgres?", "/no_such_db?")
    r = run_mda("db", "status", "--database", url)
    assert r.returncode != 0
    assert 'database "no_such_db" does not exist' in r.stderr
    assert "Traceback" not in r.stderr


def test_config_show_masks_secrets_and_says_where_values_came_from(tmp_path):
    cfg = tmp_path / "mda.toml"
    cfg.write_text(
        'http_port = 9000\nsecret_key = "s3cret-value"\n'
        '[[sources]]\nuri = "tcp://10.1.1.1:10110"\nname = "mumbai"\n'
    )
    r = run_mda(
        "--config",
        str(cfg),
        "config",
        "show",
        env={"MDA_DATABASE_URL": "postgresql://mda:topsecret@db:5432/mda"},
    )
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "topsecret" not in out and "s3cret-value" not in out
    assert "postgresql://mda:***@db:5432/mda" in out and "$MDA_DATABASE_URL" in out
    port_line = next(line for line in out.splitlines() if line.startswith("http_port"))
    assert "9000" in port_line and str(cfg) in port_line
    assert "tcp://10.1.1.1:10110 (name=mumbai)" in out


@pytest.mark.parametrize(
    "content, message",
    [
        ("http_port = ", "not valid TOML"),
        ("http_port = 'eighty'", "wants int"),
        ("no_such_setting = 1", "unknown setting 'no_such_setting'"),
    ],
)
def test_bad_settings_file_is_named_with_the_problem(tmp_path, content, message):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(content)
    r = run_mda("--config", str(cfg), "config", "show")
    assert r.returncode == 2
    assert str(cfg) in r.stderr and message in r.stderr
    assert "Traceback" not in r.stderr


def test_bad_environment_value_is_named():
    r = run_mda("config", "show", env={"MDA_HTTP_PORT": "lots"})
    assert r.returncode == 2
    assert "$MDA_HTTP_PORT" in r.stderr and "wants int" in r.stderr


def test_every_setting_is_documented():
    """`mda config help` lists every setting with its environment variable and help line."""
    from mda.settings import SETTINGS

    r = run_mda("config", "help")
    assert r.returncode == 0
    for s in SETTINGS:
        assert f"MDA_{s.name.upper()}" in r.stdout
        assert s.help.strip(), f"setting {s.name} has no help line"


def test_the_readme_settings_example_is_valid(tmp_path):
    """Docs that cannot rot: the TOML example in README.md loads as it is."""
    from mda.settings import load_settings

    text = (ROOT / "README.md").read_text()
    example = text.split("```toml\n", 1)[1].split("```", 1)[0]
    cfg = tmp_path / "mda.toml"
    cfg.write_text(example)
    settings = load_settings(cfg, environ={})
    assert settings.sources and settings.sources[0].uri.startswith("tcp://")
    assert settings.analytics, "the example sets an analytics threshold"


def test_bad_source_speed_in_settings_is_named(tmp_path):
    cfg = tmp_path / "mda.toml"
    cfg.write_text('[[sources]]\nuri = "x.nmea"\nspeed = "fast"\n')
    r = run_mda("--config", str(cfg), "config", "show")
    assert r.returncode == 2 and "sources[0].speed wants a number" in r.stderr
    assert "Traceback" not in r.stderr
