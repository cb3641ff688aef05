"""Check an incident extract with nothing but the ZIP and the sender's public key:
``mda extract verify FILE.zip --key KEY``.

In this order, stopping at the first failure and naming the file:

1. the ZIP itself: readable, every member inside the bag's folder (no absolute path, no
   ``..``, no link), or the signature beside it; nothing else at the top;
2. the signature (``<bag>.sig``, Ed25519, 64 bytes) over the bag's ``tagmanifest-sha256.txt``,
   with the key given (a wrong key is told apart from a changed tag manifest by the key
   fingerprint the signed ``bag-info.txt`` names);
3. each tag file against the signed tag manifest, then each payload file against
   ``manifest-sha256.txt``, in the manifests' order; a file that no manifest lists fails;
4. last, the ``bagit`` package's own validation of the unpacked bag (Payload-Oxum,
   ``bagit.txt``), as any partner's tools would run it.

Every failure is a ``VerifyError``: one line for a person, never a traceback.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import stat
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .errors import ExchangeError
from .signing import fingerprint, verify_signature

__all__ = ["VerifyError", "Verified", "verify_extract", "SIGNATURE_SUFFIX", "FINGERPRINT_FIELD"]

SIGNATURE_SUFFIX = ".sig"
TAG_MANIFEST = "tagmanifest-sha256.txt"
MANIFEST = "manifest-sha256.txt"
REQUIRED_TAGS = ("bagit.txt", "bag-info.txt", MANIFEST)
FINGERPRINT_FIELD = "Signing-Key-Fingerprint"  # in bag-info.txt


class VerifyError(ExchangeError):
    """The extract does not verify; ``file`` is the first file that failed, when one did."""

    def __init__(self, message: str, file: str | None = None):
        super().__init__(message)
        self.file = file


@dataclass(frozen=True)
class Verified:
    bag: str
    files: int  # payload files checked
    payload_bytes: int
    fingerprint: str
    info: dict[str, str]


def _hash(zf: zipfile.ZipFile, name: str) -> str:
    h = hashlib.sha256()
    with zf.open(name) as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _unsafe(name: str) -> str | None:
    """Why a member's name would land outside the folder it is unpacked into, or None."""
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or "\\" in name:
        return "an absolute or Windows path"
    parts = name.rstrip("/").split("/")
    if any(p in ("", ".", "..") for p in parts):
        return "a '..', '.' or empty path part"
    return None


def _manifest(text: str, where: str) -> list[tuple[str, str]]:
    out = []
    # Lines end with LF (or CRLF); nothing else counts as a line end or is trimmed off a
    # path, so a changed byte in a manifest never reads as the same manifest.
    for n, line in enumerate(text.split("\n"), 1):
        line = line.removesuffix("\r")
        if not line:
            continue
        digest, sep, rel = line.partition(" ")
        rel = rel.lstrip(" ")
        if not sep or not rel or not re.fullmatch(r"[0-9a-fA-F]{64}", digest):
            raise VerifyError(f"{where}: line {n} is not '<sha256> <path>'", where)
        out.append((digest.lower(), rel))
    return out


def _info(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and not line.startswith((" ", "\t")):
            out.setdefault(key.strip(), value.strip())
    return out


def _read_text(zf: zipfile.ZipFile, name: str) -> str:
    try:
        return zf.read(name).decode("utf-8")
    except UnicodeDecodeError:
        raise VerifyError(f"{name}: not UTF-8 text", name) from None


def verify_extract(path: str | Path, key: Ed25519PublicKey) -> Verified:
    path = Path(path)
    try:
        zf = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise VerifyError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise VerifyError(f"{path}: is a folder, not a ZIP file") from None
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise VerifyError(f"{path}: not a readable ZIP file ({e})") from None
    with zf:
        try:
            return _verify(zf, path, key)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as e:
            # a member whose compressed data was changed fails its CRC as it is read
            raise VerifyError(f"{path}: damaged ZIP ({e})") from None


def _verify(zf: zipfile.ZipFile, path: Path, key: Ed25519PublicKey) -> Verified:
    members = zf.infolist()
    names = [m.filename for m in members]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise VerifyError(f"{dup}: in the ZIP twice", dup)
    for m in members:
        why = _unsafe(m.filename)
        if why:
            raise VerifyError(f"{m.filename}: path outside the bag ({why})", m.filename)
        if stat.S_ISLNK(m.external_attr >> 16):
            raise VerifyError(f"{m.filename}: a symbolic link, not a file", m.filename)
    files = {m.filename for m in members if not m.is_dir()}
    tops = sorted({n.split("/", 1)[0] for n in files if "/" in n})
    bags = [t for t in tops if f"{t}/bagit.txt" in files]
    if len(bags) != 1:
        raise VerifyError(
            f"{path}: not an extract (expected one bag folder with a bagit.txt, found {len(bags)})"
        )
    bag = bags[0]
    signature_name = bag + SIGNATURE_SUFFIX
    for n in sorted(files):
        if not n.startswith(bag + "/") and n != signature_name:
            raise VerifyError(f"{n}: outside the bag (only {signature_name} may be beside it)", n)
    if signature_name not in files:
        raise VerifyError(f"missing signature: {signature_name} is not in the ZIP", signature_name)
    tag_manifest = f"{bag}/{TAG_MANIFEST}"
    if tag_manifest not in files:
        raise VerifyError(f"{tag_manifest}: missing", tag_manifest)

    # The signature over the tag manifest, which holds the hash of every other tag file.
    signature = zf.read(signature_name)
    signed = zf.read(tag_manifest)
    given = fingerprint(key)
    info_name = f"{bag}/bag-info.txt"
    if len(signature) != 64:
        raise VerifyError(
            f"{signature_name}: not an Ed25519 signature (64 bytes, found {len(signature)})",
            signature_name,
        )
    if not verify_signature(key, signature, signed):
        info = _info(_read_text(zf, info_name)) if info_name in files else {}
        named = info.get(FINGERPRINT_FIELD)
        if named and named != given:
            raise VerifyError(
                f"wrong key: the extract names signing key {named}, the key given is {given}",
                signature_name,
            )
        if _consistent(zf, files, bag, signed):  # the tag manifest still fits the bag
            raise VerifyError(
                f"{signature_name}: the signature does not verify with the key given "
                f"{given} (the signature was changed, or made with another key)",
                signature_name,
            )
        raise VerifyError(
            f"{tag_manifest}: changed after it was signed (the signature does not match it)",
            tag_manifest,
        )

    tags = _manifest(signed.decode("utf-8", "replace"), tag_manifest)
    listed_tags = {p for _, p in tags}
    for required in REQUIRED_TAGS:
        if required not in listed_tags:
            raise VerifyError(f"{bag}/{required}: not covered by the signed tag manifest")
    for digest, rel in tags:
        _check(zf, files, bag, rel, digest, TAG_MANIFEST)
    payload = _manifest(_read_text(zf, f"{bag}/{MANIFEST}"), f"{bag}/{MANIFEST}")
    for digest, rel in payload:
        if not rel.startswith("data/"):
            raise VerifyError(f"{bag}/{MANIFEST}: lists {rel}, outside data/", f"{bag}/{MANIFEST}")
        _check(zf, files, bag, rel, digest, MANIFEST)
    covered = {f"{bag}/{p}" for _, p in tags + payload} | {tag_manifest, signature_name}
    for n in sorted(files - covered):
        raise VerifyError(f"{n}: in the ZIP but in no manifest", n)

    _bagit_validate(zf, bag)
    info = _info(_read_text(zf, info_name))
    oxum = info.get("Payload-Oxum", "0.0").split(".")[0]
    return Verified(bag, len(payload), int(oxum) if oxum.isdigit() else 0, given, info)


def _consistent(zf, files: set[str], bag: str, signed: bytes) -> bool:
    """Does the (unsigned) tag manifest still describe the bag's tag files?"""
    try:
        tags = _manifest(signed.decode("utf-8"), TAG_MANIFEST)
        for digest, rel in tags:
            _check(zf, files, bag, rel, digest, TAG_MANIFEST)
    except (VerifyError, UnicodeDecodeError):
        return False
    return bool(tags)


def _check(zf, files: set[str], bag: str, rel: str, digest: str, manifest: str) -> None:
    name = f"{bag}/{rel}"
    if _unsafe(rel):
        raise VerifyError(f"{bag}/{manifest}: lists {rel}, outside the bag", f"{bag}/{manifest}")
    if name not in files:
        raise VerifyError(f"{name}: missing (listed in {manifest})", name)
    if _hash(zf, name) != digest:
        raise VerifyError(f"{name}: SHA-256 does not match {manifest} (changed)", name)


def _bagit_validate(zf: zipfile.ZipFile, bag: str) -> None:
    """The reference implementation's verdict on the unpacked bag (names checked above)."""
    import bagit

    tmp = Path(tempfile.mkdtemp(prefix="mda-verify-"))
    try:
        for m in zf.infolist():
            if m.is_dir():
                continue
            target = tmp / m.filename
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(m) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        try:
            bagit.Bag(str(tmp / bag)).validate()
        except bagit.BagError as e:
            details = getattr(e, "details", None)
            first = f": {details[0]}" if details else ""
            raise VerifyError(f"{bag}: not a valid BagIt bag ({e}{first})") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
