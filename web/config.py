"""The web's settings, declared once as data: name, type, default, help line.

They are top-level keys of the settings file (``session_hours = 8``) and ``MDA_<NAME>``
variables. The shell's ``mda.settings.Settings`` extends this class, so the one settings
object the shell loads is what ``create_app`` and ``AuthConfig`` take; the web never parses
a value itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["WebConfig"]


def _setting(default: Any, help: str, *, secret: bool = False) -> Any:
    return field(default=default, metadata={"help": help, "secret": secret})


@dataclass(frozen=True)
class WebConfig:
    """Login, sessions and the map page."""

    secret_key: str = _setting(
        "",
        "Key that signs session cookies. Empty: generated once and kept in the data directory.",
        secret=True,
    )
    tiles_url: str = _setting(
        "",
        "Optional online tile layer (e.g. an internal tile server). Empty: offline basemap only.",
    )
    session_hours: float = _setting(
        12.0,
        "Hours a web login lasts before the officer must log in again (a watch and its handover).",
    )
    cookie_secure: bool = _setting(
        True,
        "Mark the session cookie Secure (HTTPS only; browsers also accept it on 127.0.0.1 "
        "and localhost). Turn off only when served over plain HTTP to other machines.",
    )
    demo_token: str = _setting(
        "",
        "A preset API token (supervisor role) for scripts and the one-click login link "
        "http://HOST:PORT/?token=...; empty: none.",
        secret=True,
    )
    login_rate_limit: int = _setting(
        5,
        "Failed logins allowed within login_rate_window_s for one user name from one browser "
        "that has logged in as that user before (its device cookie), or else from one client "
        "address, before further attempts from there are refused (HTTP 429). Nobody "
        "elsewhere is locked out by them.",
    )
    login_rate_limit_ip: int = _setting(
        20,
        "Failed logins allowed per client address within login_rate_window_s, for browsers "
        "without a device cookie of the user name they try (a browser that has logged in "
        "as that user before still gets in).",
    )
    login_rate_limit_user: int = _setting(
        50,
        "Failed logins allowed per user name within login_rate_window_s from all browsers "
        "without its device cookie together (guessing from many addresses); past it only "
        "browsers that have logged in as that user before may try.",
    )
    login_rate_window_s: float = _setting(900.0, "Window of the failed-login rate limits, seconds.")
    login_device_days: float = _setting(
        180.0,
        "Days a browser is remembered (the device cookie) after logging in as a user: its "
        "failed logins count against it alone, and it gets in while others are locked out.",
    )
    trusted_proxies: str = _setting(
        "",
        "Reverse proxies whose X-Forwarded-For and X-Forwarded-Proto are believed: IP "
        "addresses or networks, comma-separated (e.g. 127.0.0.1 when nginx runs on the same "
        "machine). Empty: none; the client address is the connection's.",
    )
    http_max_connections: int = _setting(
        512,
        "Open HTTP and WebSocket connections at most (also kept below the process's file "
        "limit); more are answered 503 and closed at once.",
    )
    http_max_connections_per_ip: int = _setting(
        64,
        "Open connections at most from one client address (trusted proxies excepted); "
        "more are answered 503 and closed at once.",
    )
    http_header_timeout_s: float = _setting(
        10.0,
        "Seconds a client has to send a request's headers once it connects or starts the "
        "next request; a connection that is slower is closed (slow-loris).",
    )
    http_keepalive_timeout_s: float = _setting(
        5.0, "Seconds an idle keep-alive connection is held open between two requests."
    )
    http_body_timeout_s: float = _setting(
        30.0,
        "Seconds a client may pause while sending a request body before the request is "
        "answered 408 and closed.",
    )
    http_max_body_bytes: int = _setting(
        1048576,
        "Largest request body taken from a logged-in client; a bigger one is answered 413 "
        "before it is read.",
    )
    http_max_anonymous_body_bytes: int = _setting(
        16384,
        "Largest request body taken from a client that sends no credentials (the login "
        "form); a bigger one is answered 413 before it is read and before authentication.",
    )
    live_max_clients: int = _setting(
        200, "Live map sockets (WS /api/live) open at most; more are refused (HTTP 503)."
    )
    live_max_clients_per_user: int = _setting(
        8, "Live map sockets open at most per user or token; more are refused (HTTP 429)."
    )
    live_client_backlog_bytes: int = _setting(
        4194304,
        "Bytes of frames waiting for one live socket at most: past it its oldest position "
        "frames are dropped (the browser reloads), and a socket whose alerts alone exceed "
        "it is closed as too slow.",
    )
    live_send_timeout_s: float = _setting(
        30.0, "A live socket that takes longer than this to take one frame is closed as too slow."
    )
    live_vessel_ttl_s: float = _setting(
        21600.0,
        "The live hub forgets a vessel not heard for this many seconds (it comes back with "
        "its next report); its memory stays bounded by the vessels heard lately.",
    )
    live_max_vessels: int = _setting(
        300000, "Vessels the live hub remembers at most; the longest unheard are forgotten first."
    )
    vessels_snapshot_s: float = _setting(
        1.0,
        "GET /api/vessels answers from a snapshot in memory at most this many seconds behind "
        "the database (one query serves every map client meanwhile); 0: every request asks "
        "the database.",
    )
    # Incident extracts (exchange/extract.py: mda extract, GET /api/alerts/{id}/extract).
    organisation: str = _setting(
        "",
        "The organisation running this installation, named as the source of incident "
        "extracts (bag-info Source-Organization, the CISE identifier). Empty: 'mda "
        "(organisation not configured)'.",
    )
    extract_caveat: str = _setting(
        "RESTRICTED - coast guard partners only",
        "Handling caveat written into every incident extract (bag-info Handling-Caveat, "
        "incident.json, the CISE metadata).",
    )
    extract_window_h: float = _setting(
        6.0,
        "Hours of track and raw sentences an alert's extract holds before the alert's start "
        "and after its end.",
    )
    hazard_horizon_h: float = _setting(
        12.0,
        "How far ahead a hazard's vessels at risk are projected (dead reckoning), hours: the "
        "map's list, the API's default, the CAP published to partners and mda hazard vessels.",
    )
    hazard_max_area_deg2: float = _setting(
        2000.0,
        "A hazard area larger than this (square degrees; 2,000 is about a third of the Indian "
        "Ocean) is refused unless confirmed (confirm_large=true, --confirm-large): a typo in "
        "a CAP polygon must not put the whole ocean at risk.",
    )
    extract_max_positions: int = _setting(
        1000000,
        "Positions an incident extract (an alert's, or an area's) may hold; a bigger one is "
        "refused with the numbers before anything is read.",
    )
    extract_import_max_bytes: int = _setting(
        268435456,
        "Largest partner extract (ZIP) an officer may upload to import it (POST "
        "/api/extracts/import); a bigger one is answered 413 before it is read.",
    )
