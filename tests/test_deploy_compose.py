"""deploy/compose.yaml: the services, their health checks and dependencies, every role with
its replica count and a command line mda accepts, secrets only as Docker secrets; and, where
the Docker client with Compose is installed, `docker compose config` accepts the file and
reads it the same way. The YAML checks run everywhere (no Docker engine is needed)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from mda.cli import build_parser
from mda.settings import SETTINGS

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
ROLES = {"ingest": 1, "core": 2, "web": 2}
SECRET_ENV = {s.env for s in SETTINGS if s.secret}  # MDA_DATABASE_URL, MDA_MQTT_URL, ...
SECRETISH = re.compile(r"PASSWORD|SECRET|TOKEN|_KEY$|_URL$", re.I)
CREDENTIAL_IN_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@]+:[^@\s/]+@", re.I)


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def _mda_args(argv: list[str]):
    """The argparse namespace of an mda command line, or a failure naming it."""
    assert argv and argv[0] == "mda", argv
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            return build_parser().parse_args(argv[1:])
    except SystemExit:
        pytest.fail(f"`{' '.join(argv)}` is not an mda command line: {err.getvalue().strip()}")


def _depends(service: dict) -> dict[str, str]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):  # short form: no condition
        return {d: "service_started" for d in deps}
    return {name: (d or {}).get("condition", "service_started") for name, d in deps.items()}


def _env(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def _env_file(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


def test_the_services_health_checks_and_dependencies(compose):
    services = compose["services"]
    assert {"db", "broker", "migrate", "proxy", *ROLES} <= set(services)

    db = services["db"]
    image, _, tag = db["image"].partition(":")
    assert image == "timescale/timescaledb-ha"
    assert re.fullmatch(r"pg\d+(\.\d+)?-ts\d+\.\d+(\.\d+)?(-all)?", tag), f"unpinned tag {tag!r}"
    assert "pg_isready" in db["healthcheck"]["test"]
    broker = services["broker"]
    assert broker["image"].startswith("eclipse-mosquitto:2")
    assert "mosquitto_sub" in broker["healthcheck"]["test"]

    # Every dependency on health waits for a service that has a health check.
    for name, service in services.items():
        for dep, condition in _depends(service).items():
            assert dep in services, f"{name} depends on unknown service {dep}"
            if condition == "service_healthy":
                assert "healthcheck" in services[dep], f"{name} waits on {dep}, which has none"
    assert _depends(services["migrate"]) == {"db": "service_healthy"}
    assert _mda_args(services["migrate"]["command"]).command == "db"
    assert _depends(services["proxy"]).get("web") == "service_healthy"


def test_every_role_with_its_replicas_and_a_command_line_mda_accepts(compose):
    services = compose["services"]
    for role, replicas in ROLES.items():
        service = services[role]
        assert service.get("deploy", {}).get("replicas") == replicas, role
        args = _mda_args(service["command"])
        assert args.command == "serve" and getattr(args, "role", None) == role, (role, args)
        deps = _depends(service)
        assert deps.get("db") == "service_healthy" and deps.get("broker") == "service_healthy"
        assert deps.get("migrate") == "service_completed_successfully"
        assert service["image"] == services["migrate"]["image"]  # the image migrate builds
        assert "/healthz" in " ".join(service["healthcheck"]["test"]), role
    assert services["migrate"]["build"]["dockerfile"] == "deploy/Dockerfile"
    assert services["migrate"]["healthcheck"] == {"disable": True}  # it runs and exits


def test_the_files_it_mounts_exist_and_the_broker_config_uses_them(compose):
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                assert (DEPLOY / source).is_file(), f"{name} mounts missing {source}"
        for env_file in service.get("env_file", []):
            assert (DEPLOY / env_file).is_file(), f"{name}: missing env file {env_file}"
    conf = (DEPLOY / "mosquitto" / "compose.conf").read_text()
    mounted = {v.split(":")[1] for v in compose["services"]["broker"]["volumes"]}
    for path in re.findall(r"^acl_file (\S+)", conf, re.M):
        assert path in mounted, path
    # The mda listener takes accounts only; the mda account may use the internal topics.
    assert re.search(r"^listener 1883\nallow_anonymous false\npassword_file ", conf, re.M)
    acl = (DEPLOY / "mosquitto" / "mda.acl").read_text()
    assert re.search(r"^user mda\ntopic readwrite mda/#$", acl, re.M)
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim", dockerfile, re.M)
    assert re.search(r"^RUN pip install \.", dockerfile, re.M)


def test_no_secret_is_inlined(compose):
    text = COMPOSE.read_text()
    assert not CREDENTIAL_IN_URL.search(text), "a URL with a password in compose.yaml"
    declared = compose["secrets"]
    for name, secret in declared.items():
        assert set(secret) == {"file"} and secret["file"].startswith("./secrets/"), name
    assert "deploy/secrets/" in (ROOT / ".gitignore").read_text().split()
    for name, service in compose["services"].items():
        env = _env(service)
        for env_file in service.get("env_file", []):
            from_file = _env_file(DEPLOY / env_file)
            assert not SECRET_ENV & set(from_file), f"{env_file} sets a secret setting"
            assert not CREDENTIAL_IN_URL.search((DEPLOY / env_file).read_text())
        for key, value in env.items():
            assert key not in SECRET_ENV, f"{name}: {key} given inline; use {key}_FILE"
            if key.endswith("_FILE"):
                assert value.startswith("/run/secrets/"), (name, key, value)
            elif SECRETISH.search(key) and not key.startswith("MDA_TRUSTED"):
                pytest.fail(f"{name}: {key}={value!r} looks like an inlined secret")
        for ref in service.get("secrets", []):
            assert (ref if isinstance(ref, str) else ref["source"]) in declared, (name, ref)
    # The mda processes get every secret setting they use as a file.
    web_env = _env(compose["services"]["web"])
    for key in ("MDA_DATABASE_URL", "MDA_MQTT_URL", "MDA_SECRET_KEY"):
        assert web_env[f"{key}_FILE"].startswith("/run/secrets/")


def test_the_image_entrypoint_turns_secret_files_into_settings(tmp_path):
    (tmp_path / "url").write_text("postgresql://mda:s3cret@db:5432/mda\n")
    env = {"PATH": os.environ["PATH"], "MDA_DATABASE_URL_FILE": str(tmp_path / "url")}
    script = str(DEPLOY / "docker-entrypoint.sh")
    show = ["sh", "-c", 'printf "%s|%s" "$MDA_DATABASE_URL" "${MDA_DATABASE_URL_FILE-unset}"']
    out = subprocess.run(["sh", script, *show], env=env, capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout == "postgresql://mda:s3cret@db:5432/mda|unset"
    env["MDA_DATABASE_URL_FILE"] = str(tmp_path / "missing")
    out = subprocess.run(["sh", script, "true"], env=env, capture_output=True, text=True)
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "missing" in out.stderr


def _docker_compose() -> str | None:
    docker = shutil.which("docker")
    if docker is None:
        return None
    probe = subprocess.run([docker, "compose", "version"], capture_output=True, text=True)
    return docker if probe.returncode == 0 else None


def test_docker_compose_config_where_docker_is_installed(compose):
    """The YAML checks above run everywhere; this one also asks Docker Compose itself when
    the client is on PATH (it needs no engine): it must accept the file and read the same
    services, replicas and health-gated dependencies."""
    # Always: the file is a mapping Compose would look at (services, secrets, volumes).
    assert {"services", "secrets", "volumes", "networks"} <= set(compose)
    docker = _docker_compose()
    if docker is None:
        return  # no client here: the checks above are the test (nothing to skip)
    out = subprocess.run(
        [docker, "compose", "-f", str(COMPOSE), "config", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr.strip()
    resolved = json.loads(out.stdout)
    assert set(resolved["services"]) == set(compose["services"])
    for role, replicas in ROLES.items():
        service = resolved["services"][role]
        assert service["deploy"]["replicas"] == replicas
        assert service["depends_on"]["db"]["condition"] == "service_healthy"
        assert service["depends_on"]["broker"]["condition"] == "service_healthy"
