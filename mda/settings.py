"""One typed settings object, declared as data.

Every setting has a name, a type, a default and a help line, in one table below. Values
come from (later wins): the defaults, a TOML file (``--config PATH``, ``$MDA_CONFIG``, or
``./mda.toml`` when present), then ``MDA_*`` environment variables (``MDA_DATABASE_URL``,
``MDA_ANALYTICS__LOITERING_MIN_DURATION_MIN`` for a nested table). Nothing else in the code reads
the environment.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlsplit, urlunsplit

from .errors import SettingsError

__all__ = ["Settings", "Setting", "SETTINGS", "load_settings", "mask_url", "SourceSpec"]


@dataclass(frozen=True)
class Setting:
    name: str
    type: type
    default: Any
    help: str
    secret: bool = False


def _default_data_dir() -> str:
    if os.geteuid() == 0:
        # As root the embedded PostgreSQL runs as its own user and opens every parent of its
        # data directory to others: /var/lib is already open, /root must not be.
        return "/var/lib/mda"
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return str(Path(base) / "mda")


SETTINGS: tuple[Setting, ...] = (
    Setting("database_url", str, "",
            "PostgreSQL/TimescaleDB URL. Empty: start the embedded PostgreSQL in the data directory.",
            secret=True),
    Setting("mqtt_url", str, "",
            "MQTT broker for publishing alerts (mqtt://user:pass@host:port). Empty: no publishing.",
            secret=True),
    Setting("mqtt_notices", bool, False,
            "Also publish data-quality notices (severity info) to MQTT, on <prefix>/notices/<kind>; "
            "off: only desk alerts are published (on <prefix>/alerts/<kind>)."),
    Setting("data_dir", str, "",
            "Where the service keeps its files (embedded database, spool files, secrets). "
            "Empty: /var/lib/mda as root, else $XDG_DATA_HOME/mda or ~/.local/share/mda."),
    Setting("http_host", str, "127.0.0.1", "Address the web server listens on."),
    Setting("http_port", int, 8080, "Port the web server listens on."),
    Setting("secret_key", str, "",
            "Key that signs session cookies. Empty: generated once and kept in the data directory.",
            secret=True),
    Setting("raw_archive", bool, True, "Keep every raw NMEA sentence in the raw_sentences table."),
    Setting("retention_days", int, 90, "Days of positions kept; older ones are dropped. 0 keeps all."),
    Setting("raw_retention_days", int, 30, "Days of raw sentences kept. 0 keeps all."),
    Setting("dedupe_window_s", float, 10.0,
            "The same sentence heard by several receivers within this many seconds is stored once."),
    Setting("multipart_timeout_s", float, 10.0, "Fragments of a multipart message older than this are dropped."),
    Setting("max_clock_lead_s", float, 60.0,
            "Messages stamped more than this many seconds after they arrived are rejected "
            "(future_time). 0 turns the check off, for replays of accelerated or simulated time."),
    Setting("batch_rows", int, 20000,
            "Rows per COPY batch written to the database (bigger batches cost the server less per row)."),
    Setting("batch_max_delay_s", float, 0.5, "Longest time a record waits before its batch is written."),
    Setting("queue_batches", int, 64, "Batches held between two stages before the feed is slowed down."),
    Setting("feed_quiet_s", float, 300.0, "A feed silent this long is reported as quiet."),
    Setting("tiles_url", str, "",
            "Optional online tile layer (e.g. an internal tile server). Empty: offline basemap only."),
    Setting("log_level", str, "INFO", "Logging level: DEBUG, INFO, WARNING, ERROR."),
    Setting("session_hours", float, 12.0,
            "Hours a web login lasts before the officer must log in again (a watch and its handover)."),
    Setting("cookie_secure", bool, True,
            "Mark the session cookie Secure (HTTPS only; browsers also accept it on 127.0.0.1 "
            "and localhost). Turn off only when served over plain HTTP to other machines."),
    Setting("demo_token", str, "",
            "A preset API token (supervisor role) for scripts and the one-click login link "
            "http://HOST:PORT/?token=...; empty: none.", secret=True),
    Setting("login_rate_limit", int, 5,
            "Failed logins allowed per user name within login_rate_window_s before further "
            "attempts are refused (HTTP 429)."),
    Setting("login_rate_limit_ip", int, 20,
            "Failed logins allowed per client address within login_rate_window_s."),
    Setting("login_rate_window_s", float, 900.0, "Window of the failed-login rate limits, seconds."),
)

_BY_NAME = {s.name: s for s in SETTINGS}


@dataclass(frozen=True)
class SourceSpec:
    """One feed from a ``[[sources]]`` table or a ``--source`` option."""

    uri: str
    name: str | None = None
    speed: float | None = None


@dataclass
class Settings:
    values: dict[str, Any]
    sources: list[SourceSpec] = field(default_factory=list)
    analytics: dict[str, Any] = field(default_factory=dict)
    origin: dict[str, str] = field(default_factory=dict)  # name -> "default" | file path | env var

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["values"][name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def data_path(self) -> Path:
        return Path(self.values["data_dir"] or _default_data_dir()).expanduser()

    def replace(self, **changes: Any) -> "Settings":
        values = dict(self.values)
        origin = dict(self.origin)
        for k, v in changes.items():
            if k not in _BY_NAME:
                raise SettingsError(f"unknown setting {k!r}")
            values[k] = _coerce(_BY_NAME[k], v, "command line")
            origin[k] = "command line"
        return dataclasses.replace(self, values=values, origin=origin)

    def shown(self) -> list[tuple[str, str, str]]:
        """(name, value with secrets masked, where it came from) for ``mda config show``."""
        rows = []
        for s in SETTINGS:
            v = self.values[s.name]
            if s.name == "data_dir" and not v:
                v = str(self.data_path)
            if s.secret and v:
                v = mask_url(v) if "://" in str(v) else "********"
            rows.append((s.name, str(v), self.origin.get(s.name, "default")))
        for k, v in sorted(self.analytics.items()):
            rows.append((f"analytics.{k}", str(v), self.origin.get(f"analytics.{k}", "default")))
        for i, src in enumerate(self.sources):
            rows.append((f"sources[{i}]", src.uri + (f" (name={src.name})" if src.name else ""), "file"))
        return rows


def mask_url(url: str) -> str:
    """The URL with its password replaced by ***, for messages and logs."""
    from store.db import mask_dsn

    if "://" in url and not url.startswith(("postgres://", "postgresql://")):
        try:
            parts = urlsplit(url)
        except ValueError:
            return "<unparseable URL>"
        if parts.password is None:
            return url
        host = parts.netloc.rsplit("@", 1)[-1]
        return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))
    return mask_dsn(url)


def _coerce(s: Setting, value: Any, where: str) -> Any:
    try:
        if s.type is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(value)
        return s.type(value)
    except (TypeError, ValueError):
        raise SettingsError(
            f"{where}: setting {s.name!r} wants {s.type.__name__}, got {value!r}") from None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise SettingsError(f"{path}: settings file not found") from None
    except OSError as e:
        raise SettingsError(f"{path}: cannot read settings file ({e.strerror})") from None
    except tomllib.TOMLDecodeError as e:
        raise SettingsError(f"{path}: not valid TOML ({e})") from None


def _analytics_fields() -> dict[str, Any]:
    """Threshold names and defaults, from the analytics package's own declaration."""
    try:
        from analytics.config import AnalyticsConfig
    except ImportError:  # analytics not built yet in this checkout
        return {}
    return {f.name: f for f in dataclasses.fields(AnalyticsConfig)}


def load_settings(config_path: str | os.PathLike | None = None,
                  environ: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    values = {s.name: s.default for s in SETTINGS}
    origin: dict[str, str] = {}
    sources: list[SourceSpec] = []
    analytics: dict[str, Any] = {}
    afields = _analytics_fields()

    path = config_path or env.get("MDA_CONFIG")
    if not path and Path("mda.toml").is_file():
        path = "mda.toml"
    if path:
        where = str(path)
        data = _read_toml(Path(path))
        for key, value in data.items():
            if key == "sources":
                if not isinstance(value, list):
                    raise SettingsError(f"{where}: [[sources]] must be an array of tables")
                for i, item in enumerate(value):
                    if not isinstance(item, dict) or "uri" not in item:
                        raise SettingsError(f"{where}: sources[{i}] needs a 'uri'")
                    speed = item.get("speed")
                    if speed is not None:
                        try:
                            speed = float(speed)
                        except (TypeError, ValueError):
                            raise SettingsError(f"{where}: sources[{i}].speed wants a number, "
                                                f"got {speed!r}") from None
                    name = item.get("name")
                    sources.append(SourceSpec(str(item["uri"]), str(name) if name else None, speed))
            elif key == "analytics":
                if not isinstance(value, dict):
                    raise SettingsError(f"{where}: [analytics] must be a table")
                for k, v in value.items():
                    if afields and k not in afields:
                        raise SettingsError(f"{where}: unknown analytics setting {k!r}")
                    analytics[k] = v
                    origin[f"analytics.{k}"] = where
            elif key in _BY_NAME:
                values[key] = _coerce(_BY_NAME[key], value, where)
                origin[key] = where
            else:
                raise SettingsError(f"{where}: unknown setting {key!r}")

    for s in SETTINGS:
        var = "MDA_" + s.name.upper()
        if var in env:
            values[s.name] = _coerce(s, env[var], f"${var}")
            origin[s.name] = f"${var}"
    for var, raw in env.items():
        if var.startswith("MDA_ANALYTICS__"):
            k = var[len("MDA_ANALYTICS__"):].lower()
            if afields and k not in afields:
                raise SettingsError(f"${var}: unknown analytics setting {k!r}")
            analytics[k] = raw
            origin[f"analytics.{k}"] = f"${var}"

    # Coerce analytics values to their declared types.
    for k, v in list(analytics.items()):
        f = afields.get(k)
        if f is not None and f.default is not dataclasses.MISSING:
            t = type(f.default)
            try:
                analytics[k] = (str(v).lower() in ("1", "true", "yes", "on")) if t is bool else t(v)
            except (TypeError, ValueError):
                raise SettingsError(
                    f"{origin.get('analytics.' + k)}: analytics setting {k!r} wants "
                    f"{t.__name__}, got {v!r}") from None
    return Settings(values=values, sources=sources, analytics=analytics, origin=origin)
