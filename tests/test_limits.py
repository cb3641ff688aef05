"""Limits no stranger can exhaust, tried on `mda serve` as an attacker would, at CI size.

The service runs as a process with the usual 1,024 open files (soft and hard, so it cannot
raise them), on the test TimescaleDB, and its memory is sampled all along. **The bound:
its resident memory stays under ``RSS_BOUND_MIB`` (400 MiB; it starts at about 110)** in
each test:

- slow-loris: 1,100 connections sending their headers a byte at a time (more than the
  file limit): the excess is refused at once, the rest closed after the header timeout,
  and a client from another address is answered meanwhile;
- big bodies: 400 MiB announced to the login form and to a protected route without
  credentials, a body of unknown length, a body behind a bogus token: 413 or 401 before
  any of it is read;
- slow WebSockets: one viewer opens more live sockets than a user may, then many viewers
  more than the server takes, none of them reading, during a burst of 30,000 vessels a
  second and alerts; the excess is refused, the slow are dropped and counted.

The issue measured 680,000 log lines and a dead process (slow-loris), 3.5 GiB (three
400 MiB bodies) and 6 GiB (2,000 slow sockets).
"""

from __future__ import annotations

import base64
import os
import resource
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import psutil
import pytest
from bench.feedgen import generate
from support import free_port, wait_until
from test_outage import _beacon_lines

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RSS_BOUND_MIB = 400
FILE_LIMIT = 1024


class Served:
    """`mda serve` in a process, with its address, a viewer token and a memory sampler."""

    def __init__(self, db_url: str, tmp_path: Path, feed_port: int | None = None, **env):
        from mda.settings import load_settings  # noqa: F401 (the package must import)

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.db_url = db_url
        args = ["serve", "--database", db_url, "--port", str(self.port)]
        args += ["--data-dir", str(tmp_path / "data")]
        if feed_port:
            args += ["--source", f"tcp://127.0.0.1:{feed_port}"]
        environ = {k: v for k, v in os.environ.items() if not k.startswith("MDA_")}
        environ.update({"MDA_MAX_CLOCK_LEAD_S": "0", "MDA_LOG_LEVEL": "INFO", **env})
        self.log = tmp_path / "serve.log"
        self._log = self.log.open("w")

        def limit_files():
            resource.setrlimit(resource.RLIMIT_NOFILE, (FILE_LIMIT, FILE_LIMIT))

        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mda", *args],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=environ,
            preexec_fn=limit_files,
        )
        self.ps = psutil.Process(self.proc.pid)
        self.peak = 0
        self._sampling = True
        wait_until(self._up, 60, "mda serve to answer")
        self.start_rss = self.rss()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    def _up(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"mda serve exited: {self.log.read_text()[-2000:]}")
        try:
            return httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def rss(self) -> int:
        return self.ps.memory_info().rss

    def _sample(self) -> None:
        while self._sampling:
            try:
                self.peak = max(self.peak, self.rss())
            except psutil.Error:
                return
            time.sleep(0.05)

    def token(self, role: str = "viewer", owner: str = "script") -> str:
        r = subprocess.run(
            [sys.executable, "-m", "mda", "token", "--database", self.db_url, "create"]
            + ["--role", role, "--owner", owner],
            capture_output=True,
            text=True,
            env={k: v for k, v in os.environ.items() if not k.startswith("MDA_")},
            timeout=60,
        )
        assert r.returncode == 0, r.stderr
        return r.stdout.strip()

    def metric(self, token: str, name: str) -> float:
        text = httpx.get(
            f"{self.url}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=10
        ).text
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            # the name itself, not every metric it prefixes (mda_live_clients_too_slow_total)
            if line.startswith((name + " ", name + "{"))
        )

    def stop(self) -> str:
        self._sampling = False
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()
        return self.log.read_text()

    def assert_bounded(self) -> None:
        peak = self.peak / 2**20
        print(f"RSS {self.start_rss / 2**20:.0f} MiB at start, peak {peak:.0f} MiB")
        assert peak < RSS_BOUND_MIB, f"peak RSS {peak:.0f} MiB >= {RSS_BOUND_MIB} MiB"


@pytest.fixture
def migrated_url(migrated):
    return migrated


def _many_files() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4096:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))


def test_slow_loris_cannot_hold_the_server(migrated_url, tmp_path):
    _many_files()
    s = Served(migrated_url, tmp_path, MDA_HTTP_HEADER_TIMEOUT_S="3")
    token = s.token()
    held: list[socket.socket] = []
    try:
        t0 = time.monotonic()
        for _ in range(1100):  # more than the process may open
            c = socket.socket()
            c.setblocking(True)
            c.settimeout(5)
            try:
                c.connect(("127.0.0.1", s.port))
                c.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # and never the end
            except OSError:
                c.close()
                continue
            held.append(c)
        # Someone else, meanwhile, is answered (127.0.0.2: another address).
        with httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2")) as other:
            r = other.get(f"{s.url}/healthz", timeout=5)
        assert r.status_code == 200, r.text
        # a byte a second keeps no connection past the header timeout
        for _ in range(4):
            for c in held:
                try:
                    c.send(b"X")
                except OSError:
                    pass
            time.sleep(1)

        def closed(c: socket.socket) -> bool:
            # readable (or hung up) means the server answered an error page or closed it;
            # poll, not select: these descriptors are past select's 1,024
            if c.fileno() < 0:
                return True
            p = select.poll()
            p.register(c, select.POLLIN | select.POLLHUP | select.POLLERR)
            return bool(p.poll(0))

        wait_until(lambda: all(closed(c) for c in held), 10, "the server to close them all")
        assert time.monotonic() - t0 < 30
        refused = s.metric(token, "mda_http_connections_refused_total")
        timeouts = s.metric(token, "mda_http_header_timeouts_total")
        assert refused >= 1100 - 64 - 5 and timeouts >= 30, (refused, timeouts)
        assert len(s.ps.open_files()) < 100 and s.ps.num_fds() < 300
    finally:
        for c in held:
            c.close()
        out = s.stop()
    s.assert_bounded()
    assert out.count("\n") < 200, f"{out.count(chr(10))} log lines"
    assert "Traceback" not in out, out[-3000:]


def _raw(port: int, head: bytes, body_chunks=(), read_timeout: float = 10.0) -> bytes:
    """Send ``head`` and as much of ``body_chunks`` as the server takes; its answer."""
    c = socket.create_connection(("127.0.0.1", port), timeout=read_timeout)
    answer = b""
    try:
        c.sendall(head)
        for chunk in body_chunks:
            ready, _, _ = select.select([c], [], [], 0)
            if ready:
                break  # answered already
            try:
                c.sendall(chunk)
            except OSError:
                break
        while True:
            try:
                data = c.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not data:
                break
            answer += data
            if b"\r\n\r\n" in answer and b'"}}' in answer:
                break
    finally:
        c.close()
    return answer


def test_big_bodies_are_refused_before_they_are_read(migrated_url, tmp_path):
    s = Served(migrated_url, tmp_path)
    token = s.token("officer", owner="olive")
    mib = b"x" * (1 << 20)
    try:
        big = 400 * (1 << 20)
        for path in ("/login", "/api/alerts/1/ack", "/api/alerts/1/close"):
            head = (
                f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                f"Content-Length: {big}\r\n\r\n"
            ).encode()
            t0 = time.monotonic()
            answer = _raw(s.port, head, [mib] * 64)  # it would send 64 MiB if let
            assert answer.startswith(b"HTTP/1.1 413"), (path, answer[:200])
            assert time.monotonic() - t0 < 5
        # no length given: counted as it comes, refused past the anonymous limit
        head = b"POST /login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        chunk = b"10000\r\n" + b"a" * 0x10000 + b"\r\n"
        answer = _raw(s.port, head, [chunk] * 1024)
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        # a bogus token and a body larger than an anonymous one: 401 before reading it
        head = (
            "POST /api/alerts/1/ack HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer mda_forged\r\n"
            f"Content-Type: application/json\r\nContent-Length: {512 * 1024}\r\n\r\n"
        ).encode()
        answer = _raw(s.port, head, [b"x" * 65536] * 8)
        assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
        # three at once, as in the issue
        threads = [
            threading.Thread(
                target=_raw,
                args=(
                    s.port,
                    f"POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: {big}\r\n\r\n".encode(),
                    [mib] * 64,
                ),
            )
            for _ in range(3)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        # a real request of an officer still goes through (and a small body is read)
        r = httpx.post(
            f"{s.url}/api/alerts/999999/ack",
            json={"note": "x"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert r.status_code == 404, r.text
        assert s.metric(token, "mda_http_bodies_too_large_total") >= 7
    finally:
        out = s.stop()
    s.assert_bounded()
    assert "Traceback" not in out, out[-3000:]


def _ws_open(port: int, token: str, rcvbuf: int = 4096) -> tuple[socket.socket, int]:
    """A WebSocket handshake by hand on a socket with a tiny receive buffer that will never
    read again; (socket, HTTP status of the answer)."""
    c = socket.socket()
    c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    c.settimeout(10)
    c.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    c.sendall(
        (
            f"GET /api/live HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Authorization: Bearer {token}\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        data = c.recv(1)
        if not data:
            break
        head += data
    status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/1.1 ") else 0
    return c, status


class _Feed:
    def __init__(self):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.conn: socket.socket | None = None
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        self.conn, _ = self.server.accept()

    def send(self, lines: list[str]) -> None:
        wait_until(lambda: self.conn is not None, 30, "the service to connect to its feed")
        self.conn.sendall(("\r\n".join(lines) + "\r\n").encode())

    def close(self):
        if self.conn:
            self.conn.close()
        self.server.close()


def test_slow_websockets_are_capped_dropped_and_counted(migrated_url, tmp_path):
    _many_files()
    feed = _Feed()
    s = Served(
        migrated_url,
        tmp_path,
        feed.port,
        MDA_LIVE_MAX_CLIENTS="40",
        MDA_LIVE_MAX_CLIENTS_PER_USER="8",
        MDA_LIVE_CLIENT_BACKLOG_BYTES=str(1 << 20),
        MDA_LIVE_SEND_TIMEOUT_S="3",
    )
    admin = s.token("viewer", owner="ops")
    tokens = [s.token("viewer", owner=f"wall-{i}") for i in range(6)]
    sockets: list[socket.socket] = []
    try:
        # one viewer: at most 8 sockets
        codes = []
        for _ in range(12):
            c, status = _ws_open(s.port, tokens[0])
            codes.append(status)
            sockets.append(c)
        assert codes.count(101) == 8 and codes.count(429) == 4, codes
        # many viewers: at most 40 in all
        for tok in tokens[1:]:
            for _ in range(8):
                c, status = _ws_open(s.port, tok)
                codes.append(status)
                sockets.append(c)
        assert codes.count(101) == 40 and codes.count(503) == 8, codes
        # a burst: 30,000 vessels a second for 8 s, and alerts; nobody reads
        now = int(time.time())
        for second in range(8):
            burst = generate(30_000, vessels=30_000, seed=second, t0=now - 600 + second * 10)
            feed.send(burst.lines + _beacon_lines(now - 300 + second))
            time.sleep(1)
        wait_until(
            lambda: s.metric(admin, "mda_live_clients_too_slow_total") >= 30,
            30,
            "the slow sockets dropped",
        )
        assert s.metric(admin, "mda_live_clients_dropped_frames_total") > 0
        wait_until(lambda: s.metric(admin, "mda_live_clients") <= 10, 30, "the slow ones gone")
    finally:
        for c in sockets:
            c.close()
        feed.close()
        out = s.stop()
    s.assert_bounded()
    assert "Traceback" not in out, out[-3000:]


def test_running_out_of_files_is_counted_and_logged_once_not_a_traceback_per_accept(caplog):
    """A connection storm past the file limit makes every accept() fail (EMFILE): asyncio's
    pause stays, the flood of tracebacks does not; one line, and a count for /metrics."""
    import asyncio
    import errno
    import logging

    from mda.web.server import ConnectionGuard, quiet_accept_exhaustion

    guard = ConnectionGuard(100, 10)
    loop = asyncio.new_event_loop()
    try:
        quiet_accept_exhaustion(loop, guard)
        with caplog.at_level(logging.DEBUG):
            for _ in range(300):
                loop.call_exception_handler(
                    {
                        "message": "socket.accept() out of system resource",
                        "exception": OSError(errno.EMFILE, "Too many open files"),
                    }
                )
            loop.call_exception_handler({"message": "something else went wrong"})
    finally:
        loop.close()
    assert guard.stats["accept_out_of_files"] == 300
    out_of_files = [r for r in caplog.records if "out of file descriptors" in r.getMessage()]
    assert len(out_of_files) == 1 and out_of_files[0].exc_info is None
    assert "Too many open files" in out_of_files[0].getMessage()
    assert any("something else went wrong" in r.getMessage() for r in caplog.records)
