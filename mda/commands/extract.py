"""``mda extract``: incident extracts from the command line, the same bag the web makes.

    mda extract ALERT_ID -o FILE.zip
    mda extract --area LAT,LON,LAT,LON --from T --to T -o FILE.zip
    mda extract verify FILE.zip --key KEY
    mda extract import FILE.zip [--partner NAME]

Making one reads the database the settings name (or the embedded one) and writes an
``extract.alert`` / ``extract.area`` row to the audit log (actor ``cli``, the system user in
its details). ``verify`` needs nothing but the ZIP and the sender's public key: it prints
what it checked, or one line naming the first file that fails, and exits 1. ``import``
verifies a partner's extract with the partner's public key (the partner named, or the one
whose key the bag names) and keeps it, its tracks and its alerts, for the map; a refusal is
one line and exit status 1 (``exchange.imports``).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

from ..errors import MdaError

__all__ = ["register", "run"]

USAGE = """mda extract ALERT_ID -o FILE.zip
       mda extract --area=LAT,LON,LAT,LON --from TIME --to TIME -o FILE.zip
       mda extract verify FILE.zip --key KEY
       mda extract import FILE.zip [--partner NAME]"""


def register(sub) -> None:
    p = sub.add_parser(
        "extract",
        help="signed incident extracts (BagIt ZIP) of an alert or an area; verify one",
        usage=USAGE,
        description="Make an incident extract: a BagIt bag (SHA-256) with incident.json, "
        "incident.cise.xml, tracks (OGC Moving Features JSON, CSV, KML), the raw sentences "
        "and an offline map, signed with this installation's Ed25519 key (mda keys show). "
        "Or verify one with nothing but the ZIP and the sender's public key.",
    )
    p.add_argument("what", nargs="*", metavar="ALERT_ID | verify FILE.zip", help=argparse.SUPPRESS)
    p.add_argument("-o", "--output", metavar="FILE.zip", help="where to write the extract")
    p.add_argument(
        "--area", metavar="LAT,LON,LAT,LON", help="two opposite corners of a box, in degrees"
    )
    p.add_argument("--from", dest="start", metavar="TIME", help="ISO 8601 (UTC when naive)")
    p.add_argument("--to", dest="end", metavar="TIME", help="ISO 8601 (UTC when naive)")
    p.add_argument(
        "--key",
        metavar="KEY",
        help="verify: the sender's public key (a file, as mda keys show prints it)",
    )
    p.add_argument(
        "--partner",
        metavar="NAME",
        help="import: the partner whose extract it is (default: the one whose public key "
        "the extract names)",
    )
    p.add_argument("--database", metavar="URL", help="database URL (default: settings)")
    p.set_defaults(run=run, what=[])


def _time(text: str | None, option: str) -> datetime:
    if not text:
        raise MdaError(f"--area needs {option} TIME")
    try:
        t = datetime.fromisoformat(text.strip().replace(" ", "T"))
    except ValueError:
        raise MdaError(f"{option} {text!r}: not an ISO 8601 time (2025-01-15T06:00:00Z)") from None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _output(path: str | None) -> Path:
    if not path:
        raise MdaError("give the file to write with -o FILE.zip")
    out = Path(path)
    if out.is_dir():
        raise MdaError(f"{path}: is a folder; give the extract's file name")
    folder = out.resolve().parent
    if not folder.is_dir() or not os.access(folder, os.W_OK):
        raise MdaError(f"{path}: cannot write there (no such folder, or not writable)")
    return out


def run(args, settings) -> int:
    what = list(args.what)
    if what and what[0] == "verify":
        if len(what) != 2:
            raise MdaError("usage: mda extract verify FILE.zip --key KEY")
        return _verify(what[1], args.key)
    if what and what[0] == "import":
        if len(what) != 2:
            raise MdaError("usage: mda extract import FILE.zip [--partner NAME]")
        return _import(args, settings, what[1])
    if args.partner:
        raise MdaError("--partner is for mda extract import")
    if args.key:
        raise MdaError("--key is for mda extract verify")
    if args.area:
        if what:
            raise MdaError("give an alert id or --area, not both")
        out = _output(args.output)
        return _make(args, settings, out, area=args.area)
    if len(what) != 1 or not what[0].isdigit():
        raise MdaError(f"usage: {USAGE.splitlines()[0]} (or --area ..., or verify)")
    if args.start or args.end:
        raise MdaError("--from and --to go with --area")
    out = _output(args.output)
    return _make(args, settings, out, alert_id=int(what[0]))


def _make(args, settings, out: Path, *, alert_id: int | None = None, area: str | None = None):
    from mda.exchange import extract
    from mda.exchange.errors import ExchangeError

    from ..database import database_url
    from .user import _upgraded

    options = extract.ExtractOptions.from_settings(settings)
    user = getpass.getuser()
    maker = extract.Maker(user, None, "cli")
    try:
        box = extract.parse_area(area) if area else None
    except ExchangeError as e:
        raise MdaError(str(e)) from None
    start = _time(args.start, "--from") if area else None
    end = _time(args.end, "--to") if area else None

    async def work(url: str):
        from mda.store import audit
        from mda.store.db import connect

        async with await connect(url, autocommit=True) as conn:
            if box is not None:
                made = await extract.area_extract(conn, box, start, end, options, maker, out)
            else:
                made = await extract.alert_extract(conn, alert_id, options, maker, out)
            await audit.record(
                conn,
                actor="cli",
                via="cli",
                action=f"extract.{made.kind}",
                target=made.target,
                details={**made.audit_details(), "system_user": user},
            )
            return made

    with database_url(settings, args.database) as url:
        _upgraded(url, settings)
        try:
            made = asyncio.run(work(url))
        except ExchangeError as e:
            raise MdaError(str(e)) from None
    print(
        f"mda extract: {out} ({made.size / 1024:,.0f} kB): {made.positions:,} positions of "
        f"{made.vessels} vessels, {made.raw_sentences:,} raw sentences, "
        f"{made.start:%Y-%m-%d %H:%MZ} to {made.end:%Y-%m-%d %H:%MZ}",
        file=sys.stderr,
    )
    print(f"SHA-256 {made.sha256}")
    print(f"signed with {made.fingerprint}")
    return 0


def _verify(path: str, key_arg: str | None) -> int:
    from mda.exchange.errors import ExchangeError
    from mda.exchange.signing import parse_public_key
    from mda.exchange.verify import VerifyError, verify_extract

    if not key_arg:
        raise MdaError("verify needs the sender's public key: --key FILE (from mda keys show)")
    try:
        text = Path(key_arg).read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        text = key_arg  # the key itself, base64, given inline
    except OSError as e:
        raise MdaError(f"{key_arg}: cannot read the key ({e.strerror})") from None
    try:
        key = parse_public_key(text)
    except ExchangeError as e:
        raise MdaError(f"--key {key_arg}: {e}") from None
    try:
        ok = verify_extract(path, key)
    except VerifyError as e:
        print(f"FAILED: {e}", file=sys.stderr)
        return 1
    info = ok.info
    print(f"OK {path}: bag {ok.bag} complete and unchanged ({ok.files} files, SHA-256)")
    print(f"signature: Ed25519, key {ok.fingerprint}")
    for field in (
        "Source-Organization",
        "External-Identifier",
        "Extract-Created",
        "Extract-Window-Start",
        "Extract-Window-End",
        "Handling-Caveat",
    ):
        if field in info:
            print(f"{field}: {info[field]}")
    return 0


def _import(args, settings, path: str) -> int:
    from mda.exchange.imports import ImportRefused, import_extract

    from ..database import database_url
    from .user import _upgraded

    if args.key:
        raise MdaError("import takes the partner's key kept with the partner: no --key")
    user = getpass.getuser()

    async def work(url: str):
        from mda.store.db import connect

        async with await connect(url, autocommit=True) as conn:
            return await import_extract(
                conn,
                path,
                actor="cli",
                via="cli",
                partner=args.partner,
                max_positions=settings.extract_max_positions,
                audit_details={"system_user": user},
            )

    with database_url(settings, args.database) as url:
        _upgraded(url, settings)
        try:
            done = asyncio.run(work(url))
        except ImportRefused as e:
            print(f"REFUSED: {e}", file=sys.stderr)
            return 1
    print(done.line())
    return 0
