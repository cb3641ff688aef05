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
from collections import deque
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

    # Numbers start high so that items can also be put in front (put_front) of the others.
    _BASE = 10**9

    def __init__(self, directory: Path):
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        for stale in self.dir.glob("*.tmp"):  # a crash mid-write: the item was never counted
            stale.unlink()
        numbers = [int(p.stem) for p in self.dir.glob("*.spool")]
        self._seq = max(numbers, default=self._BASE)
        self._low = min(numbers, default=self._BASE + 1)
        self._order: deque[Path] = deque()  # the oldest files, listed once, not per item
        self.quarantined = 0
        self.pending = len(numbers)  # items waiting, kept without listing the directory

    def __len__(self) -> int:
        return len(list(self.dir.glob("*.spool")))

    def put(self, item: tuple) -> None:
        """Keep ``item`` after the others; raises SpoolFull when the disk will not take it."""
        self._seq += 1
        self._write(self._seq, item)
        self.pending += 1

    def put_front(self, item: tuple) -> None:
        """Keep ``item`` before the others (it is older than what the spool holds)."""
        self._low -= 1
        path = self._write(self._low, item)
        self.pending += 1
        if self._order:
            self._order.appendleft(path)

    def _write(self, number: int, item: tuple) -> Path:
        tmp = self.dir / f"{number:012d}.tmp"
        data = pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL)
        try:
            with open(tmp, "wb") as f:
                f.write(struct.pack("<Q", len(data)) + data)
                f.flush()
                os.fsync(f.fileno())
            path = self.dir / f"{number:012d}.spool"
            tmp.rename(path)  # visible only when complete
        except OSError as e:
            tmp.unlink(missing_ok=True)
            raise SpoolFull(f"spool {self.dir}: {e.strerror or e}") from None
        return path

    def oldest(self) -> tuple[Path, tuple] | None:
        """The oldest item and its file, or None; it stays oldest until ``done(path)``."""
        while True:
            if not self._order:
                self._order = deque(sorted(self.dir.glob("*.spool")))
                self.pending = len(self._order)
                if not self._order:
                    return None
            path = self._order[0]
            try:
                raw = path.read_bytes()
            except FileNotFoundError:  # removed behind our back
                self._order.popleft()
                continue
            try:
                (n,) = struct.unpack_from("<Q", raw)
                if len(raw) != 8 + n:
                    raise ValueError(f"{len(raw) - 8} bytes, header says {n}")
                return path, pickle.loads(raw[8:])
            except Exception as e:  # damaged: set it aside and go on with the next
                bad = self.dir / "bad"
                bad.mkdir(exist_ok=True)
                path.rename(bad / path.name)
                self._order.popleft()
                self.quarantined += 1
                self.pending = max(0, self.pending - 1)
                log.error("spool %s: %s is damaged (%s); moved to %s", self.dir, path.name, e, bad)

    def done(self, path: Path) -> None:
        """The item in ``path`` was delivered: forget it."""
        path.unlink(missing_ok=True)
        self.pending = max(0, self.pending - 1)
        if self._order and self._order[0] == path:
            self._order.popleft()
