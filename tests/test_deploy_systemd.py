"""deploy/systemd/: one unit per role, hardened, each ExecStart an mda command line that mda
itself accepts, no secret in a unit; and, where systemd-analyze exists, `systemd-analyze
verify` loads each unit (instantiated) without a warning."""

from __future__ import annotations

import contextlib
import io
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from mda.cli import build_parser
from mda.settings import SETTINGS

ROOT = Path(__file__).resolve().parent.parent
UNITS = ROOT / "deploy" / "systemd"
# unit file -> (role, an instance name to try it with)
EXPECTED = {
    "mda-ingest@.service": ("ingest", "8061"),
    "mda-core.service": ("core", None),
    "mda-web@.service": ("web", "8081"),
}
MDA = "/opt/mda/venv/bin/mda"
HARDENING = {
    "ProtectSystem": "strict",
    "NoNewPrivileges": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "ProtectHome": "yes",
    "CapabilityBoundingSet": "",
}
SECRET_ENV = {s.env for s in SETTINGS if s.secret}


def parse_unit(text: str) -> dict[str, list[tuple[str, str]]]:
    """Sections of a unit file as (key, value) lists, in order (keys may repeat)."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current = None
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if m := re.fullmatch(r"\[([A-Za-z]+)\]", line):
            current = sections.setdefault(m.group(1), [])
            continue
        assert current is not None, f"line {n}: {raw!r} before any section"
        key, eq, value = line.partition("=")
        assert eq and re.fullmatch(r"[A-Za-z]+", key.strip()), f"line {n}: not KEY=VALUE: {raw!r}"
        current.append((key.strip(), value.strip()))
    return sections


def _one(section: list[tuple[str, str]], key: str) -> str:
    values = [v for k, v in section if k == key]
    assert len(values) == 1, f"{key}: {values}"
    return values[0]


def _mda_args(argv: list[str], unit: str):
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            return build_parser().parse_args(argv)
    except SystemExit:
        pytest.fail(f"{unit}: `mda {' '.join(argv)}` is refused by mda: {err.getvalue().strip()}")


def test_there_is_a_unit_for_each_role():
    assert sorted(p.name for p in UNITS.glob("*.service")) == sorted(EXPECTED)


@pytest.mark.parametrize("unit", sorted(EXPECTED))
def test_unit_sections_hardening_and_command_line(unit):
    role, instance = EXPECTED[unit]
    sections = parse_unit((UNITS / unit).read_text())
    assert set(sections) == {"Unit", "Service", "Install"}
    service = sections["Service"]
    assert _one(sections["Unit"], "Description")
    assert _one(sections["Install"], "WantedBy") == "multi-user.target"
    for key, value in HARDENING.items():
        assert _one(service, key) == value, key
    dynamic = [v for k, v in service if k == "DynamicUser"] == ["yes"]
    assert dynamic or _one(service, "User") == "mda", "neither DynamicUser nor a dedicated user"
    state = _one(service, "StateDirectory")
    env = dict(v.split("=", 1) for k, v in service if k == "Environment")
    assert env["MDA_DATA_DIR"] == f"/var/lib/{state}"  # the data directory is the state one
    assert env["MDA_CONFIG"] == "/etc/mda/mda.toml"
    assert "/etc/mda/secrets.env" in [v for k, v in service if k == "EnvironmentFile"]
    # No secret in the unit: those settings come from the root-only secrets.env.
    assert not SECRET_ENV & set(env), f"{unit} sets {SECRET_ENV & set(env)} inline"

    argv = shlex.split(_one(service, "ExecStart"))
    assert argv[0] == MDA
    sample = {"%i": instance or "", "$INGEST_SOURCES": "--source tcp://127.0.0.1:10110"}
    args = []
    for word in argv[1:]:
        for placeholder, value in sample.items():
            word = word.replace(placeholder, value)
        args.extend(shlex.split(word) if word.startswith("--source") else [word])
    assert not [a for a in args if "%" in a or "$" in a], args
    parsed = _mda_args(args, unit)
    assert parsed.command == "serve" and parsed.role == role
    if instance:  # a template: its instance is the port its /healthz and /metrics use
        assert "%i" in state and parsed.port == int(instance)
    if role == "ingest":
        assert parsed.source == ["tcp://127.0.0.1:10110"]


def test_ports_and_state_directories_do_not_collide():
    seen_ports, seen_states = {}, {}
    for unit, (_role, instance) in EXPECTED.items():
        service = parse_unit((UNITS / unit).read_text())["Service"]
        line = _one(service, "ExecStart").replace("%i", instance or "")
        port = re.search(r"--port (\d+)", line).group(1)
        state = _one(service, "StateDirectory").replace("%i", instance or "")
        assert port not in seen_ports, (unit, seen_ports)
        assert state not in seen_states, (unit, seen_states)
        seen_ports[port], seen_states[state] = unit, unit


def test_systemd_analyze_verify(tmp_path):
    """The units as systemd reads them, where systemd-analyze exists (the parser checks
    above run everywhere): each one instantiated, ExecStart pointed at this checkout's mda."""
    # Always: the installed path the units name is where docs/install.md puts the venv.
    assert MDA in (ROOT / "docs" / "install.md").read_text()
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        return  # the parser checks above are the test here (nothing to skip)
    mda = shutil.which("mda", path=str(ROOT / ".venv" / "bin")) or shutil.which("mda")
    assert mda, "the mda command is not installed (pip install -e .)"
    names = []
    for unit, (_role, instance) in EXPECTED.items():
        text = (UNITS / unit).read_text().replace(MDA, mda)
        name = unit.replace("@.", f"@{instance}.") if instance else unit
        (tmp_path / unit).write_text(text)
        (tmp_path / name).write_text(text)
        names.append(str(tmp_path / name))
    out = subprocess.run(
        [analyze, "verify", "--man=no", *names], capture_output=True, text=True, timeout=60
    )
    # verify exits 0 on unknown keys and bad values but names them: any line is a finding.
    findings = [ln for ln in (out.stdout + out.stderr).splitlines() if ln.strip()]
    assert out.returncode == 0 and findings == [], "\n".join(findings)
