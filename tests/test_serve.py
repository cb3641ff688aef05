"""`mda serve` as an operator runs it: it stops cleanly on SIGTERM (systemd, docker stop)
with everything written and its embedded database down, and says why when it cannot start."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from support import free_port, wait_until

DATA = Path(__file__).parent / "data"


def _env() -> dict:
    return {k: v for k, v in os.environ.items() if not k.startswith("MDA_")}


def test_sigterm_stops_everything_cleanly(tmp_path):
    port = free_port()
    data = tmp_path / "data"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mda",
            "serve",
            "--port",
            str(port),
            "--data-dir",
            str(data),
            "--source",
            str(DATA / "amsa" / "exact-earth-with-tag-block.txt"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=_env(),
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        else:
            raise AssertionError("mda serve did not come up")
        assert (data / "postgres" / "postmaster.pid").exists()
        time.sleep(2)  # the file feed has been read and written by now
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            out, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
    assert proc.returncode == 0, out
    assert "Traceback" not in out, out
    assert "mda: stopped" in out
    # One signal, one orderly stop (no second, hard stop from a re-raised signal).
    assert out.count("stopping: ending feeds") == 1 and "stopping now" not in out
    assert not (data / "postgres" / "postmaster.pid").exists(), "embedded PostgreSQL still up"


def test_port_in_use_is_one_clear_line(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = subprocess.run(
            [
                sys.executable,
                "-m",
                "mda",
                "serve",
                "--port",
                str(port),
                "--data-dir",
                str(tmp_path / "data"),
            ],
            capture_output=True,
            text=True,
            env=_env(),
            timeout=120,
        )
    assert r.returncode == 2, r.stderr
    assert f"mda: error: cannot listen on 127.0.0.1:{port}: Address already in use" in r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "data" / "postgres" / "postmaster.pid").exists()


def test_sigterm_while_starting_leaves_no_database_running(tmp_path):
    """Stopped while the embedded database starts or the schema is migrated: nothing of it
    stays running, and the next start is clean."""
    data = tmp_path / "data"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mda",
            "serve",
            "--port",
            str(free_port()),
            "--data-dir",
            str(data),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=_env(),
    )
    deadline = time.monotonic() + 60
    while not (data / "postgres" / "PG_VERSION").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert "Traceback" not in out, out
    wait_until(
        lambda: not (data / "postgres" / "postmaster.pid").exists(),
        10,
        f"the embedded server to stop: {out}",
    )
