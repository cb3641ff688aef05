"""``mda keys show``: the installation's public key, which signs incident extracts, to give
to partners (PEM, as openssl and the ``cryptography`` package read it) with its fingerprint.
The key pair is made in the data directory on first use (mode 0600)."""

from __future__ import annotations

import sys

__all__ = ["register"]


def register(sub) -> None:
    p = sub.add_parser(
        "keys", help="the public key that signs incident extracts and alert events, for partners"
    )
    ksub = p.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    show = ksub.add_parser(
        "show",
        help="print the public key (PEM) and its fingerprint; makes the key pair on first use",
    )
    show.set_defaults(run=run_show)


def run_show(args, settings) -> int:
    from mda.exchange.errors import ExchangeError
    from mda.exchange.signing import KEY_FILE, fingerprint, load_or_create_key, public_pem

    from ..errors import MdaError

    try:
        key = load_or_create_key(settings.data_path)
    except ExchangeError as e:
        raise MdaError(str(e)) from None
    print(public_pem(key), end="")
    print(f"fingerprint: {fingerprint(key)}")
    print(
        f"mda keys: Ed25519 key pair in {settings.data_path / KEY_FILE}; give partners the "
        "lines above (the public key and its fingerprint).",
        file=sys.stderr,
    )
    return 0
