"""The installation's Ed25519 key, which signs incident extracts and every CloudEvent the
alert feeds publish (``feeds.sign_event``).

The private key is made on first use in the data directory (``extract-signing-key.pem``,
PKCS#8 PEM, mode 0600: readable by the service's user only) and kept there. Partners get
the public key (``mda keys show``: PEM, as ``openssl`` reads it) and its fingerprint, the
SHA-256 of the key's DER encoding, which anyone can recompute:
``openssl pkey -pubin -in mda.pub -outform DER | sha256sum``.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import re
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .errors import ExchangeError

__all__ = [
    "KEY_FILE",
    "load_or_create_key",
    "public_pem",
    "fingerprint",
    "parse_public_key",
    "partner_key",
    "sign",
    "verify_signature",
]

log = logging.getLogger(__name__)

KEY_FILE = "extract-signing-key.pem"
_PEM_BLOCK = re.compile(
    r"-----BEGIN PUBLIC KEY-----\s+[A-Za-z0-9+/=\s]+?-----END PUBLIC KEY-----", re.S
)


def load_or_create_key(data_path: str | os.PathLike) -> Ed25519PrivateKey:
    """The installation's signing key from ``data_path``, made there (0600) on first use."""
    path = Path(data_path) / KEY_FILE
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return _read_key(path)
    except OSError as e:
        raise ExchangeError(f"{path}: cannot create the signing key ({e.strerror})") from None
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    log.info("made the extract signing key %s (fingerprint %s)", path, fingerprint(key))
    return key


def _read_key(path: Path) -> Ed25519PrivateKey:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise
    except OSError as e:
        raise ExchangeError(f"{path}: cannot read the signing key ({e.strerror})") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise ExchangeError(f"{path}: not an unencrypted PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ExchangeError(f"{path}: not an Ed25519 key")
    return key


def _public(key: Ed25519PrivateKey | Ed25519PublicKey) -> Ed25519PublicKey:
    return key.public_key() if isinstance(key, Ed25519PrivateKey) else key


def public_pem(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """The public key as PEM (SubjectPublicKeyInfo), as openssl and cryptography read it."""
    return (
        _public(key)
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )


def fingerprint(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """``SHA256:`` and the hex SHA-256 of the public key's DER (SubjectPublicKeyInfo)."""
    der = _public(key).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return "SHA256:" + hashlib.sha256(der).hexdigest()


def parse_public_key(text: str) -> Ed25519PublicKey:
    """A public key from what a partner was given: the PEM block (``mda keys show``'s output
    as it is, or a .pem file's text), or the 32-byte raw key in base64. ExchangeError if it
    is none of them."""
    m = _PEM_BLOCK.search(text)
    try:
        if m:
            key = serialization.load_pem_public_key(m.group(0).encode("ascii"))
        else:
            raw = base64.b64decode(text.strip(), validate=True)
            if len(raw) != 32:
                raise ValueError("not 32 bytes")
            key = Ed25519PublicKey.from_public_bytes(raw)
    except (ValueError, TypeError, UnicodeEncodeError):
        raise ExchangeError("not an Ed25519 public key (PEM, or 32 bytes in base64)") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ExchangeError("not an Ed25519 public key")
    return key


def partner_key(text: str) -> tuple[str, str]:
    """A partner's public key as it is kept with the partner (``store.partners``): its PEM,
    normalised, and its fingerprint, from what the partner gave (see ``parse_public_key``).
    ExchangeError if it is no Ed25519 public key."""
    key = parse_public_key(text)
    return public_pem(key), fingerprint(key)


def sign(key: Ed25519PrivateKey, data: bytes) -> bytes:
    """The 64-byte Ed25519 signature of ``data`` (deterministic: same data, same bytes)."""
    return key.sign(data)


def verify_signature(key: Ed25519PublicKey, signature: bytes, data: bytes) -> bool:
    try:
        key.verify(signature, data)
    except InvalidSignature:
        return False
    return True
