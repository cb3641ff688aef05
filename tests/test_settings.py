"""The one typed settings object: frozen dataclasses per table, one boolean parser for all of
them, and the web's auth settings taken from it rather than parsed again."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys

import pytest

from mda.analytics import AnalyticsConfig
from mda.errors import SettingsError
from mda.settings import (
    ANALYTICS_SETTINGS,
    SETTINGS,
    SOURCE_SETTINGS,
    Settings,
    SourceSpec,
    load_settings,
    parse_bool,
)
from mda.web.auth import AuthConfig
from mda.web.config import WebConfig

# A top-level boolean of the shell, one of the web's, and one of the analytics.
BOOLEANS = [
    ("raw_archive", "MDA_RAW_ARCHIVE", "raw_archive = {}"),
    ("cookie_secure", "MDA_COOKIE_SECURE", "cookie_secure = {}"),
    (
        "analytics.ais_gap_class_b",
        "MDA_ANALYTICS__AIS_GAP_CLASS_B",
        "[analytics]\nais_gap_class_b = {}",
    ),
]


def _value(settings: Settings, name: str):
    if name.startswith("analytics."):
        return getattr(settings.analytics, name.split(".", 1)[1])
    return getattr(settings, name)


def _refusal(message: str, name: str, where: str) -> str:
    """The message with the setting's name and its origin taken out."""
    assert message.startswith(f"{where}: setting '{name}' ")
    return message.replace(where, "WHERE").replace(f"'{name}'", "'NAME'")


def test_treu_is_refused_the_same_way_for_a_top_level_and_an_analytics_boolean(tmp_path):
    refusals = set()
    for name, var, toml in BOOLEANS:
        with pytest.raises(SettingsError) as from_env:
            load_settings(environ={var: "treu"})
        refusals.add(_refusal(str(from_env.value), name, f"${var}"))
        cfg = tmp_path / f"{var}.toml"
        cfg.write_text(toml.format('"treu"') + "\n")
        with pytest.raises(SettingsError) as from_file:
            load_settings(cfg, environ={})
        refusals.add(_refusal(str(from_file.value), name, str(cfg)))
    assert refusals == {
        "WHERE: setting 'NAME' wants true or false (or yes/no, on/off, 1/0), got 'treu'"
    }


@pytest.mark.parametrize("name, var, toml", BOOLEANS)
@pytest.mark.parametrize(
    "text, value",
    [
        ("true", True),
        ("TRUE", True),
        ("yes", True),
        ("On", True),
        ("1", True),
        (" true ", True),
        ("false", False),
        ("no", False),
        ("OFF", False),
        ("0", False),
    ],
)
def test_every_boolean_accepts_the_same_spellings(name, var, toml, text, value):
    assert _value(load_settings(environ={var: text}), name) is value


@pytest.mark.parametrize("name, var, toml", BOOLEANS)
def test_an_empty_boolean_is_refused_not_false(name, var, toml):
    with pytest.raises(SettingsError, match="wants true or false"):
        load_settings(environ={var: ""})


def test_toml_booleans_are_booleans(tmp_path):
    cfg = tmp_path / "mda.toml"
    cfg.write_text(
        "raw_archive = false\ncookie_secure = false\n[analytics]\nais_gap_class_b = true\n"
    )
    s = load_settings(cfg, environ={})
    assert (s.raw_archive, s.cookie_secure, s.analytics.ais_gap_class_b) == (False, False, True)
    assert parse_bool(True, "x", "here") is True


def test_the_refusal_reaches_the_command_line_as_one_line():
    env = {k: v for k, v in os.environ.items() if not k.startswith("MDA_")}
    env["MDA_ANALYTICS__AIS_GAP_CLASS_B"] = "treu"
    r = subprocess.run(
        [sys.executable, "-m", "mda", "config", "show"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert r.returncode == 2
    assert r.stderr.strip() == (
        "mda: error: $MDA_ANALYTICS__AIS_GAP_CLASS_B: setting "
        "'analytics.ais_gap_class_b' wants true or false (or yes/no, "
        "on/off, 1/0), got 'treu'"
    )


def test_the_settings_are_frozen_typed_tables():
    s = load_settings(environ={"MDA_HTTP_PORT": "9001", "MDA_ANALYTICS__LOITERING_MAX_SOG_KN": "3"})
    assert dataclasses.is_dataclass(s) and isinstance(s, WebConfig)
    assert isinstance(s.analytics, AnalyticsConfig) and s.analytics.loitering_max_sog_kn == 3.0
    assert s.http_port == 9001 and s.origin["http_port"] == "$MDA_HTTP_PORT"
    assert s.origin["analytics.loitering_max_sog_kn"] == "$MDA_ANALYTICS__LOITERING_MAX_SOG_KN"
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.http_port = 1  # type: ignore[misc]
    changed = s.replace(http_port="9002")
    assert (changed.http_port, changed.origin["http_port"], s.http_port) == (
        9002,
        "command line",
        9001,
    )
    with pytest.raises(SettingsError, match="unknown setting 'nope'"):
        s.replace(nope=1)


def test_each_setting_is_declared_once_with_a_help_line():
    names = [s.name for s in (*SETTINGS, *ANALYTICS_SETTINGS, *SOURCE_SETTINGS)]
    assert len(names) == len(set(names))
    assert {s.name for s in SETTINGS} == {
        f.name for f in dataclasses.fields(Settings) if "help" in f.metadata
    }
    assert {f.name for f in dataclasses.fields(WebConfig)} <= {s.name for s in SETTINGS}
    assert [s.key for s in ANALYTICS_SETTINGS] == [
        f.name for f in dataclasses.fields(AnalyticsConfig)
    ]
    assert [s.key for s in SOURCE_SETTINGS] == [f.name for f in dataclasses.fields(SourceSpec)]
    for s in (*SETTINGS, *ANALYTICS_SETTINGS, *SOURCE_SETTINGS):
        assert len(s.help) > 10, s.name
        assert s.type in (str, int, float, bool), s.name


def test_config_help_lists_the_analytics_and_the_sources_too():
    env = {k: v for k, v in os.environ.items() if not k.startswith("MDA_")}
    r = subprocess.run(
        [sys.executable, "-m", "mda", "config", "help"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    for s in ANALYTICS_SETTINGS:
        assert re.search(rf"^{re.escape(s.name)} = .*\[{s.env}\]$", r.stdout, re.M), s.name
    for s in SOURCE_SETTINGS:
        assert f"{s.name} = " in r.stdout


def test_the_web_takes_its_settings_from_the_settings_object(tmp_path):
    s = load_settings(
        environ={
            "MDA_DATA_DIR": str(tmp_path),
            "MDA_SESSION_HOURS": "8",
            "MDA_COOKIE_SECURE": "off",
            "MDA_LOGIN_RATE_LIMIT": "4",
            "MDA_SECRET_KEY": "k" * 32,
        }
    )
    auth = AuthConfig.from_settings(s)
    assert auth.settings is s and auth.key == b"k" * 32
    assert (
        auth.settings.session_hours,
        auth.settings.cookie_secure,
        auth.settings.login_rate_limit,
    ) == (8.0, False, 4)


def test_an_analytics_value_out_of_range_names_where_it_came_from(tmp_path):
    cfg = tmp_path / "mda.toml"
    cfg.write_text("[analytics]\nloitering_max_sog_kn = -1\n")
    with pytest.raises(SettingsError) as e:
        load_settings(cfg, environ={})
    assert str(e.value) == (
        f"{cfg}: analytics setting 'loitering_max_sog_kn' must not be negative, got -1.0"
    )


def test_the_readme_example_sets_an_analytics_threshold(tmp_path):
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    cfg = tmp_path / "mda.toml"
    cfg.write_text(text.split("```toml\n", 1)[1].split("```", 1)[0])
    s = load_settings(cfg, environ={})
    set_here = [
        name
        for name, where in s.origin.items()
        if name.startswith("analytics.") and where == str(cfg)
    ]
    assert set_here, "the example sets an analytics threshold"
    for name in set_here:
        key = name.split(".", 1)[1]
        assert getattr(s.analytics, key) != getattr(AnalyticsConfig(), key), name
