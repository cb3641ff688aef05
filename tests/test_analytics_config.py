"""Settings as data: the defaults of events.md, a help line for every setting, validation,
and a README that lists every setting with its default and runs its example."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import re
from pathlib import Path

import pytest

from mda import analytics
from mda.analytics import AnalyticsConfig, AnalyticsError, ConfigError, settings_table

README = Path(analytics.__file__).parent / "README.md"


def test_defaults_are_those_of_events_md():
    c = AnalyticsConfig()
    assert (c.loitering_max_sog_kn, c.loitering_min_duration_min) == (2.0, 60.0)
    assert (c.encounter_max_distance_m, c.encounter_max_sog_kn, c.encounter_min_duration_min) == (
        500.0,
        3.0,
        30.0,
    )
    assert c.ais_gap_min_duration_min == 120.0
    assert (
        c.position_jump_min_distance_nm,
        c.position_jump_min_speed_kn,
        c.position_jump_sog_factor,
    ) == (1.0, 50.0, 3.0)
    assert c.identity_clash_window_min == 30.0
    assert (c.wrong_way_min_angle_deg, c.wrong_way_min_duration_min) == (90.0, 10.0)
    assert (c.lane_min_follow_min, c.lane_deviation_min_distance_nm) == (30.0, 3.0)
    assert c.entry_kinds == {"restricted", "protected", "hazard"}
    assert c.zone_entry_default_severity == "high"
    assert c.beacon_prefixes == {970, 972, 974} and c.distress_nav_status == 14


def test_every_setting_is_a_scalar_with_a_help_line():
    for f in dataclasses.fields(AnalyticsConfig):
        assert isinstance(f.default, (bool, int, float, str)), f.name
        assert len(f.metadata.get("help", "")) > 10, f.name
    assert [n for n, _, _ in settings_table()] == [
        f.name for f in dataclasses.fields(AnalyticsConfig)
    ]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"loitering_max_sog_kn": -1.0}, "must not be negative"),
        ({"encounter_max_distance_m": 0}, "must be positive"),
        ({"loitering_min_duration_min": "60"}, "wants a number"),
        ({"lanes_use_approximate": 1}, "wants true or false"),
        ({"disabled_kinds": "loitering,parking"}, "unknown kind(s) parking"),
        ({"zone_entry_default_severity": "urgent"}, "must be one of"),
        ({"distress_mmsi_prefixes": "970,abc"}, "distress_mmsi_prefixes"),
    ],
)
def test_bad_values_are_refused_by_name(kwargs, message):
    with pytest.raises(ConfigError) as e:
        AnalyticsConfig(**kwargs)
    assert message in str(e.value) and isinstance(e.value, AnalyticsError)


def test_the_readme_lists_every_setting_with_its_default():
    text = README.read_text()
    for name, default, _ in settings_table():
        shown = (
            repr(default)
            if isinstance(default, str)
            else (str(default).lower() if isinstance(default, bool) else str(default))
        )
        assert re.search(rf"\| `{name}` \| `{re.escape(shown)}` \|", text), name


def test_the_readme_names_every_export_and_every_kind():
    text = README.read_text()
    for name in analytics.__all__:
        assert f"`{name}" in text, name
    for kind in analytics.KINDS:
        assert f"| `{kind}` |" in text, kind


def test_the_readme_example_runs():
    code = re.search(r"```python\n(.*?)```", README.read_text(), re.S).group(1)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(README), "exec"), {})
    assert out.getvalue().startswith("SOG under 2 kn for 90 min")
