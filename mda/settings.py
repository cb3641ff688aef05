"""One typed settings object, declared as data.

Frozen dataclasses, one per table, each field with its type, default and help line:

- ``Settings``: the top-level keys. The shell's own are declared here; the web's (login,
  sessions, the map page) in ``web.config.WebConfig``, which ``Settings`` extends;
- ``SourceSpec``: one ``[[sources]]`` table;
- ``analytics.AnalyticsConfig``: the ``[analytics]`` table, ``Settings.analytics``.

Values come from (later wins): the defaults, a TOML file (``--config PATH``,
``$MDA_CONFIG``, or ``./mda.toml`` when present), then ``MDA_*`` environment variables
(``MDA_DATABASE_URL``; ``MDA_ANALYTICS__LOITERING_MIN_DURATION_MIN`` for the analytics).
Every value goes through ``_coerce``, with one boolean parser (``parse_bool``) for every
table. Nothing else in the code reads the environment.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mda.analytics import AnalyticsConfig, ConfigError
from mda.web.config import WebConfig

from .errors import SettingsError

__all__ = [
    "Settings",
    "SourceSpec",
    "PartnerFeedSpec",
    "Setting",
    "SETTINGS",
    "ANALYTICS_SETTINGS",
    "SOURCE_SETTINGS",
    "PARTNER_FEED_SETTINGS",
    "load_settings",
    "parse_bool",
    "mask_url",
]

_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


def _setting(default: Any, help: str, *, secret: bool = False) -> Any:
    return field(default=default, metadata={"help": help, "secret": secret})


def _default_data_dir() -> str:
    if os.geteuid() == 0:
        # As root the embedded PostgreSQL runs as its own user and opens every parent of its
        # data directory to others: /var/lib is already open, /root must not be.
        return "/var/lib/mda"
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return str(Path(base) / "mda")


@dataclass(frozen=True)
class SourceSpec:
    """One feed from a ``[[sources]]`` table or a ``--source`` option."""

    uri: str = field(
        metadata={
            "help": "the feed: a path or file:PATH (plain or .gz), "
            "tcp://host:port, udp://:port, mqtt://host:port/topic, "
            "or - for standard input"
        }
    )
    name: str | None = _setting(
        None, "its name in logs, metrics and stored rows; default: the URI without credentials"
    )
    speed: float | None = _setting(
        None, "files only: replay at this many times real time; default: as fast as possible"
    )
    keep: bool = _setting(
        False,
        "keep this source's data whatever its age: the retention job does not remove it "
        "(an archive replayed on purpose); without it, records older than the retention "
        "window are refused",
    )
    format: str | None = _setting(
        None,
        "what the feed carries: nmea, aiscatcher (AIS-catcher JSON), gpsd (gpsd AIS JSON), "
        "json (decoded positions), csv; default: nmea, or for a file what its name says "
        "(.csv, .zip: csv; .json, .jsonl: the JSON its first line shows)",
    )
    columns: str | None = _setting(
        None,
        "json and csv: field names, FIELD=NAME,... (mmsi=MMSI,time=msgtime,lat=latitude), "
        "or a TOML table; a value topic[N] reads the N-th level of the MQTT topic; "
        "default: the common names",
    )
    time_format: str | None = _setting(
        None,
        "json and csv: how times are written (strptime, e.g. %d/%m/%Y %H:%M:%S); default: "
        "epoch seconds or milliseconds, ISO 8601, or dd/mm/yyyy HH:MM:SS",
    )
    timezone: str | None = _setting(
        None, "json and csv: the time zone of times without an offset (IANA name); default UTC"
    )

    def feed_options(self) -> dict:
        """The keyword arguments of ``ingest.open_source`` that say what the feed carries."""
        return {
            "format": self.format,
            "columns": self.columns,
            "time_format": self.time_format,
            "timezone": self.timezone,
        }


@dataclass(frozen=True)
class PartnerFeedSpec:
    """One ``[[partner_feeds]]`` table or ``--partner-feed`` option: a partner's CloudEvents
    feed to subscribe to (exchange/partner_feed.py, docs/partners.md)."""

    url: str = field(
        metadata={
            "help": "the partner's broker and our feed there: "
            "mqtt[s]://user:pass@host[:port]/mda/v1/partners/OURNAME/#[?partner=NAME&source=URN]"
        }
    )
    partner: str | None = _setting(
        None, "the partner (as in mda partner list) whose alerts these are; or ?partner= in url"
    )
    source: str | None = _setting(
        None, "the CloudEvents source its events must carry; default urn:mda:<partner>"
    )
    ca_file: str | None = _setting(
        None,
        "mqtts:// only: the CA certificate (PEM) that signed the partner's broker certificate; "
        "default: the system's trusted CAs",
    )


@dataclass(frozen=True)
class Settings(WebConfig):
    """Every setting of the service. The web's are inherited from ``WebConfig``."""

    database_url: str = _setting(
        "",
        "PostgreSQL/TimescaleDB URL. Empty: start the embedded PostgreSQL in the data directory.",
        secret=True,
    )
    mqtt_url: str = _setting(
        "",
        "MQTT broker for publishing alerts (mqtt://user:pass@host:port). Empty: no publishing.",
        secret=True,
    )
    mqtt_notices: bool = _setting(
        False,
        "Also publish data-quality notices (severity info) to MQTT, on "
        "<prefix>/notices/<kind>; off: only desk alerts are published (on "
        "<prefix>/alerts/<kind>).",
    )
    cap_topics: str = _setting(
        "",
        "MQTT topic filters (comma-separated) on which warning centres publish OASIS CAP "
        "1.2 alerts, read from mqtt_url's broker: each alert becomes hazard areas "
        "(docs/hazards.md). Empty: none read.",
    )
    data_dir: str = _setting(
        "",
        "Where the service keeps its files (embedded database, spool files, secrets). "
        "Empty: /var/lib/mda as root, else $XDG_DATA_HOME/mda or ~/.local/share/mda.",
    )
    http_host: str = _setting("127.0.0.1", "Address the web server listens on.")
    http_port: int = _setting(8080, "Port the web server listens on.")
    raw_archive: bool = _setting(True, "Keep every raw NMEA sentence in the raw_sentences table.")
    retention_days: int = _setting(
        90,
        "Days of positions kept (by event time); older ones are dropped, except those of "
        "kept sources (mda ingest --keep, keep = true in [[sources]]). A feed's records "
        "older than this are refused unless its source is kept. 0 keeps all.",
    )
    raw_retention_days: int = _setting(
        30, "Days of raw sentences kept, with the same exceptions as retention_days. 0 keeps all."
    )
    dedupe_window_s: float = _setting(
        10.0,
        "The same sentence heard by several receivers within this many seconds is stored once.",
    )
    multipart_timeout_s: float = _setting(
        10.0, "Fragments of a multipart message older than this are dropped."
    )
    max_clock_lead_s: float = _setting(
        60.0,
        "Messages stamped more than this many seconds after they arrived are rejected "
        "(future_time). 0 turns the check off, for replays of accelerated or simulated "
        "time.",
    )
    decode_process: bool = _setting(
        True,
        "Decode feeds in a process of their own, on a second core, while this one stores "
        "and analyses them (false: all in one process).",
    )
    batch_rows: int = _setting(
        20000,
        "Rows per COPY batch written to the database (bigger batches cost the server "
        "less per row).",
    )
    batch_max_delay_s: float = _setting(
        0.5, "Longest time a record waits before its batch is written."
    )
    queue_batches: int = _setting(
        64, "Batches held between two stages before the feed is slowed down."
    )
    feed_quiet_s: float = _setting(300.0, "A feed silent this long is reported as quiet.")
    outage_retry_max_s: float = _setting(
        5.0,
        "Longest wait between two tries to reach the database while anything waits for it "
        "(spooled positions, alerts): what waited is written at most this long after it "
        "returns, with no new input needed.",
    )
    stage_restart_max_s: float = _setting(
        30.0,
        "A stage that fails (analytics, store, a network feed, the web server, the MQTT "
        "publisher) is started again after a back-off from 1 s up to this many seconds; "
        "the rest of the service goes on meanwhile.",
    )
    token_expiry_days: float = _setting(
        90.0,
        "Days an API token made without --expires is valid (mda token create). 0: such "
        "tokens never expire (not recommended).",
    )
    log_level: str = _setting("INFO", "Logging level: DEBUG, INFO, WARNING, ERROR.")
    role: str = _setting(
        "all",
        "What mda serve runs: all (everything in one process), or one role of several "
        "processes joined by mqtt_url's broker and the database: ingest (feeds, published "
        "to the broker), core (stores and analyses them; one leads, others stand by) or "
        "web (the map, the API and the WebSocket). See mda/README.md.",
    )
    takeover_replay_min: float = _setting(
        30.0,
        "A core that takes over rebuilds the analytics from this many minutes of the latest "
        "positions in the database.",
    )

    # The tables.
    sources: tuple[SourceSpec, ...] = ()
    partner_feeds: tuple[PartnerFeedSpec, ...] = ()
    analytics: AnalyticsConfig = field(default_factory=AnalyticsConfig)
    # Where each value came from, by name ("analytics.<name>" for the analytics); absent:
    # the default. For ``mda config show``.
    origin: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir or _default_data_dir()).expanduser()

    def replace(self, **changes: Any) -> Settings:
        """A copy with top-level settings changed (from the command line), checked as if
        read from a file."""
        origin = dict(self.origin)
        values = {}
        for name, value in changes.items():
            if name not in _TOP:
                raise SettingsError(f"unknown setting {name!r}")
            values[name] = _coerce(_TOP[name], value, "command line")
            origin[name] = "command line"
        return dataclasses.replace(self, **values, origin=origin)

    def shown(self) -> list[tuple[str, str, str]]:
        """(name, value with secrets masked, where it came from) for ``mda config show``:
        every top-level setting, the analytics settings that are not defaults, the sources."""
        from mda.store.db import mask_credentials

        rows = []
        for s in SETTINGS:
            v = getattr(self, s.name)
            if s.name == "data_dir" and not v:
                v = str(self.data_path)
            if s.secret and v:
                v = mask_url(v) if "://" in str(v) or "=" in str(v) else "********"
            elif isinstance(v, str) and "://" in v:  # a URL may carry a credential too
                v = mask_credentials(v)
            rows.append((s.name, str(v), self.origin.get(s.name, "default")))
        for s in sorted(ANALYTICS_SETTINGS, key=lambda s: s.name):
            if s.name in self.origin:
                rows.append((s.name, str(getattr(self.analytics, s.key)), self.origin[s.name]))
        for i, src in enumerate(self.sources):
            uri = mask_credentials(src.uri)
            rows.append(
                (
                    f"sources[{i}]",
                    uri
                    + (f" (name={src.name})" if src.name else "")
                    + (" (kept)" if src.keep else ""),
                    "file",
                )
            )
        for i, pf in enumerate(self.partner_feeds):
            rows.append((f"partner_feeds[{i}]", mask_credentials(pf.url), "file"))
        return rows


@dataclass(frozen=True)
class Setting:
    """One setting as ``mda config help`` lists it (read from the dataclass fields)."""

    name: str  # as shown: "http_port", "analytics.loitering_max_sog_kn", "sources[].uri"
    key: str  # the field's name
    type: type
    default: Any
    help: str
    env: str | None  # its environment variable; None for [[sources]]
    secret: bool = False


def _declared(cls: type, prefix: str = "", env: str | None = "MDA_") -> tuple[Setting, ...]:
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        if "help" not in f.metadata:
            continue  # a table or bookkeeping, not a setting
        t = hints[f.name]
        t = next((a for a in typing.get_args(t) if a is not type(None)), t)  # X | None -> X
        out.append(
            Setting(
                prefix + f.name,
                f.name,
                t,
                f.default,
                f.metadata["help"],
                None if env is None else env + f.name.upper(),
                f.metadata.get("secret", False),
            )
        )
    return tuple(out)


_WEB_NAMES = {f.name for f in dataclasses.fields(WebConfig)}
# The top-level settings: the shell's first, then the web's.
SETTINGS: tuple[Setting, ...] = tuple(
    sorted(_declared(Settings), key=lambda s: s.name in _WEB_NAMES)
)
ANALYTICS_SETTINGS: tuple[Setting, ...] = _declared(
    AnalyticsConfig, "analytics.", "MDA_ANALYTICS__"
)
SOURCE_SETTINGS: tuple[Setting, ...] = _declared(SourceSpec, "sources[].", None)
PARTNER_FEED_SETTINGS: tuple[Setting, ...] = _declared(PartnerFeedSpec, "partner_feeds[].", None)
_TOP = {s.name: s for s in SETTINGS}
_ANALYTICS = {s.key: s for s in ANALYTICS_SETTINGS}


def mask_url(url: str) -> str:
    """The URL (or key=value DSN) with every credential in it masked, for messages, logs
    and ``mda config show`` (``store.db.mask_credentials``)."""
    from mda.store.db import mask_credentials, mask_dsn

    if url.startswith(("postgres://", "postgresql://")) or "://" not in url:
        return mask_dsn(url) if "=" in url or "://" in url else url
    return mask_credentials(url)


def parse_bool(value: Any, name: str, where: str) -> bool:
    """The one boolean parser: true/false, yes/no, on/off, 1/0 (any case); anything else is
    refused with a message naming the setting and where it came from."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise SettingsError(
        f"{where}: setting {name!r} wants true or false (or yes/no, on/off, 1/0), got {value!r}"
    )


def _coerce(s: Setting, value: Any, where: str) -> Any:
    if s.type is bool:
        return parse_bool(value, s.name, where)
    try:
        if isinstance(value, bool):  # TOML true for a number or a text
            raise TypeError(value)
        return s.type(value)
    except (TypeError, ValueError):
        raise SettingsError(
            f"{where}: setting {s.name!r} wants {s.type.__name__}, got {value!r}"
        ) from None


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


def _sources(value: Any, where: str) -> list[SourceSpec]:
    if not isinstance(value, list):
        raise SettingsError(f"{where}: [[sources]] must be an array of tables")
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, dict) or "uri" not in item:
            raise SettingsError(f"{where}: sources[{i}] needs a 'uri'")
        speed = item.get("speed")
        if speed is not None:
            try:
                speed = float(speed)
            except (TypeError, ValueError):
                raise SettingsError(
                    f"{where}: sources[{i}].speed wants a number, got {speed!r}"
                ) from None
        name = item.get("name")
        keep = parse_bool(item.get("keep", False), f"sources[{i}].keep", where)
        out.append(
            SourceSpec(
                str(item["uri"]), str(name) if name else None, speed, keep, **_feed(item, i, where)
            )
        )
    return out


def _partner_feeds(value: Any, where: str) -> list[PartnerFeedSpec]:
    if not isinstance(value, list):
        raise SettingsError(f"{where}: [[partner_feeds]] must be an array of tables")
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, dict) or "url" not in item:
            raise SettingsError(f"{where}: partner_feeds[{i}] needs a 'url'")
        unknown = set(item) - {"url", "partner", "source", "ca_file"}
        if unknown:
            raise SettingsError(
                f"{where}: partner_feeds[{i}]: unknown {', '.join(sorted(unknown))}"
            )
        out.append(
            PartnerFeedSpec(
                str(item["url"]),
                str(item["partner"]) if item.get("partner") else None,
                str(item["source"]) if item.get("source") else None,
                str(item["ca_file"]) if item.get("ca_file") else None,
            )
        )
    return out


def _feed(item: dict, i: int, where: str) -> dict:
    """The [[sources]] keys that say what a feed carries, checked (an unknown format, field
    or time zone is refused here, naming where it was)."""
    columns = item.get("columns")
    if isinstance(columns, dict):  # a TOML table {mmsi = "MMSI", ...}
        columns = ",".join(f"{k}={v}" for k, v in columns.items())
    out = {"columns": str(columns) if columns else None}
    for key in ("format", "time_format", "timezone"):
        value = item.get(key)
        out[key] = str(value) if value not in (None, "") else None
    from mda.ingest import make_reader
    from mda.ingest.errors import SourceError

    try:
        make_reader(out["format"], columns=out["columns"], timezone=out["timezone"])
    except SourceError as e:
        raise SettingsError(f"{where}: sources[{i}]: {e}") from None
    return out


def load_settings(
    config_path: str | os.PathLike | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    env = os.environ if environ is None else environ
    top: dict[str, Any] = {}
    analytics: dict[str, Any] = {}
    origin: dict[str, str] = {}
    sources: list[SourceSpec] = []
    partner_feeds: list[PartnerFeedSpec] = []

    def analytics_value(key: str, value: Any, where: str) -> None:
        if key not in _ANALYTICS:
            raise SettingsError(f"{where}: unknown analytics setting {key!r}")
        analytics[key] = _coerce(_ANALYTICS[key], value, where)
        origin[_ANALYTICS[key].name] = where

    path = config_path or env.get("MDA_CONFIG")
    if not path and Path("mda.toml").is_file():
        path = "mda.toml"
    if path:
        where = str(path)
        for key, value in _read_toml(Path(path)).items():
            if key == "sources":
                sources = _sources(value, where)
            elif key == "partner_feeds":
                partner_feeds = _partner_feeds(value, where)
            elif key == "analytics":
                if not isinstance(value, dict):
                    raise SettingsError(f"{where}: [analytics] must be a table")
                for k, v in value.items():
                    analytics_value(k, v, where)
            elif key in _TOP:
                top[key] = _coerce(_TOP[key], value, where)
                origin[key] = where
            else:
                raise SettingsError(f"{where}: unknown setting {key!r}")

    for s in SETTINGS:
        if s.env in env:
            top[s.name] = _coerce(s, env[s.env], f"${s.env}")
            origin[s.name] = f"${s.env}"
    for var, raw in env.items():
        if var.startswith("MDA_ANALYTICS__"):
            analytics_value(var[len("MDA_ANALYTICS__") :].lower(), raw, f"${var}")

    try:
        checked = AnalyticsConfig(**analytics)
    except ConfigError as e:  # a value of the right type out of its range: say where it was
        named = [k for k in analytics if f"'{k}'" in str(e)]
        where = origin.get(_ANALYTICS[named[0]].name) if named else None
        raise SettingsError(f"{where}: {e}" if where else str(e)) from None
    return Settings(
        **top,
        sources=tuple(sources),
        partner_feeds=tuple(partner_feeds),
        analytics=checked,
        origin=origin,
    )
