"""The one backoff (``ingest.Backoff``): its bounds, growth and reset, and that every retry
loop of the service uses it rather than a formula of its own."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from mda.ingest import Backoff

ROOT = Path(__file__).resolve().parent.parent


def test_each_wait_lies_in_the_upper_half_of_its_step_and_never_past_the_cap():
    backoff = Backoff(0.5, 30.0)
    for _ in range(200):
        step = backoff.step
        wait = backoff.next_delay()
        assert step / 2 <= wait <= step <= 30.0


def test_the_step_doubles_up_to_the_cap_and_stays_there():
    low = Backoff(0.5, 30.0, rng=lambda: 0.0)  # the shortest wait of each step
    high = Backoff(0.5, 30.0, rng=lambda: 0.999999)  # the longest
    lows = [low.next_delay() for _ in range(10)]
    assert lows == [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 15.0, 15.0, 15.0]
    highs = [high.next_delay() for _ in range(10)]
    assert highs[:6] == pytest.approx([0.5, 1.0, 2.0, 4.0, 8.0, 16.0], rel=1e-5)
    assert highs[6:] == pytest.approx([30.0] * 4, rel=1e-5)
    # Far past the cap: no overflow, still capped.
    for _ in range(5000):
        assert low.next_delay() == 15.0


def test_jitter_spreads_the_waits():
    waits = {round(Backoff(1.0, 1.0).next_delay(), 6) for _ in range(50)}
    assert len(waits) > 40 and min(waits) >= 0.5 and max(waits) <= 1.0


def test_reset_starts_again_from_the_initial_step():
    backoff = Backoff(0.1, 10.0, rng=lambda: 0.0)
    for _ in range(6):
        backoff.next_delay()
    assert backoff.step == pytest.approx(6.4)
    backoff.reset()
    assert backoff.attempts == 0 and backoff.step == 0.1
    assert backoff.next_delay() == pytest.approx(0.05)


@pytest.mark.parametrize("initial, maximum", [(0, 1.0), (-1.0, 1.0), (2.0, 1.0)])
def test_nonsense_bounds_are_refused(initial, maximum):
    with pytest.raises(ValueError):
        Backoff(initial, maximum)


@pytest.mark.parametrize(
    "path, attribute",
    [
        ("store/writer.py", "StoreWriter"),
        ("mda/service.py", "AlertStage"),
        ("exchange/publish.py", "MqttPublisher"),
        ("ingest/sources.py", "TcpSource"),
        ("ingest/sources.py", "MqttSource"),
    ],
)
def test_every_retry_loop_waits_with_the_one_backoff(path, attribute):
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
    (cls,) = [n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == attribute]
    calls = [
        n
        for n in ast.walk(cls)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "Backoff"
    ]
    assert calls, f"{path}: {attribute} does not use ingest.Backoff"


def test_no_other_jitter_formula_in_the_service():
    """Only ``ingest/backoff.py`` draws random numbers for waiting (the simulator, outside
    the service's layers, uses them for traffic)."""
    found = []
    for package in ("ingest", "analytics", "store", "web", "mda"):
        for p in sorted((ROOT / package).rglob("*.py")):
            if p == ROOT / "ingest" / "backoff.py" or "__pycache__" in p.parts:
                continue
            for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
                names = (
                    [a.name for a in node.names]
                    if isinstance(node, ast.Import)
                    else [node.module]
                    if isinstance(node, ast.ImportFrom)
                    else []
                )
                if "random" in names:
                    found.append(str(p.relative_to(ROOT)))
    assert found == []
