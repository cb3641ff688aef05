"""A realistic AIS traffic simulator for the Indian Ocean with injected anomalies and their
ground truth: the demo's feed, the tests' known truth and the benchmarks' load.

    from mda.simulator import Scenario, simulate, demo_scenario

See README.md beside this file for the route graph, the cadence, the anomalies and the
truth format.
"""

from ._actors import ACTOR_KINDS
from ._traffic import Cadence
from .routes import check_graph, zones_geojson
from .scenario import (
    DEFAULT_START,
    DemoScenario,
    DemoSegments,
    Scenario,
    demo_scenario,
    demo_segments,
    output_paths,
    simulate,
)

__all__ = [
    "Scenario",
    "simulate",
    "demo_scenario",
    "demo_segments",
    "DemoScenario",
    "DemoSegments",
    "output_paths",
    "Cadence",
    "ACTOR_KINDS",
    "DEFAULT_START",
    "check_graph",
    "zones_geojson",
]
