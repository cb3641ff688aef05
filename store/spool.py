"""A directory of pending items, written whole (rename) and replayed oldest first.

Used wherever a downstream service can go away (the database, the MQTT broker): the
items wait on disk instead of in memory, so an outage costs disk, not RAM, and a restart
of the service does not lose them.
"""

from __future__ import annotations

import logging
import os
import pickle
import struct
from pathlib import Path

__all__ = ["Spool", "SpoolFull"]

log = logging.getLogger(__name__)


class SpoolFull(Exception):
    """The spool could not take an item (disk full or not writable)."""


class Spool:
    """Items that could not be delivered yet, one file each, replayed in order.

    A file is written to a temporary name, synced, then renamed, so a crash never leaves a
    half-written item under its final name. A file that cannot be read back (damaged disk,
    truncated copy) is moved to ``bad/`` and counted, never replayed for ever."""

    def __init__(self, directory: Path):
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        for stale in self.dir.glob("*.tmp"):  # a crash mid-write: the item was never counted
            stale.unlink()
        self._seq = max((int(p.stem) for p in self.dir.glob("*.spool")), default=0)
        self.quarantined = 0

    def __len__(self) -> int:
        return len(list(self.dir.glob("*.spool")))

    def put(self, item: tuple) -> None:
        """Keep ``item``; raises SpoolFull when the disk will not take it."""
        self._seq += 1
        tmp = self.dir / f"{self._seq:012d}.tmp"
        data = pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL)
        try:
            with open(tmp, "wb") as f:
                f.write(struct.pack("<Q", len(data)) + data)
                f.flush()
                os.fsync(f.fileno())
            tmp.rename(self.dir / f"{self._seq:012d}.spool")  # visible only when complete
        except OSError as e:
            tmp.unlink(missing_ok=True)
            raise SpoolFull(f"spool {self.dir}: {e.strerror or e}") from None

    def oldest(self) -> tuple[Path, tuple] | None:
        while True:
            files = sorted(self.dir.glob("*.spool"))
            if not files:
                return None
            try:
                raw = files[0].read_bytes()
                (n,) = struct.unpack_from("<Q", raw)
                if len(raw) != 8 + n:
                    raise ValueError(f"{len(raw) - 8} bytes, header says {n}")
                return files[0], pickle.loads(raw[8:])
            except Exception as e:  # damaged: set it aside and go on with the next
                bad = self.dir / "bad"
                bad.mkdir(exist_ok=True)
                files[0].rename(bad / files[0].name)
                self.quarantined += 1
                log.error("spool %s: %s is damaged (%s); moved to %s", self.dir,
                          files[0].name, e, bad)
