"""A directory of pending items, written whole (rename) and replayed oldest first.

Used wherever a downstream service can go away (the database, the MQTT broker): the
items wait on disk instead of in memory, so an outage costs disk, not RAM, and a restart
of the service does not lose them.
"""

from __future__ import annotations

import pickle
import struct
from pathlib import Path

__all__ = ["Spool"]


class Spool:
    """Batches that could not be written yet, appended to files, replayed in order."""

    def __init__(self, directory: Path):
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self._seq = max((int(p.stem) for p in self.dir.glob("*.spool")), default=0)

    def __len__(self) -> int:
        return len(list(self.dir.glob("*.spool")))

    def put(self, batch: tuple) -> None:
        self._seq += 1
        tmp = self.dir / f"{self._seq:012d}.tmp"
        data = pickle.dumps(batch, protocol=pickle.HIGHEST_PROTOCOL)
        tmp.write_bytes(struct.pack("<Q", len(data)) + data)
        tmp.rename(self.dir / f"{self._seq:012d}.spool")  # visible only when complete

    def oldest(self) -> tuple[Path, tuple] | None:
        files = sorted(self.dir.glob("*.spool"))
        if not files:
            return None
        raw = files[0].read_bytes()
        (n,) = struct.unpack_from("<Q", raw)
        return files[0], pickle.loads(raw[8:8 + n])
