"""Writes ``landmask.bin.gz`` from ``global_land_mask.globe``: ``python -m
analytics._landmask_build``. Not imported at run time; see ``landmask.py`` for the format.

Layout (gzip-compressed): the magic ``MDALAND1``; one byte per block of 30 x 30 mask cells,
row-major from 90 N / 180 W (0 all sea, 1 all land, 2 mixed); then, for each mixed block in
the same order, its 900 cells row-major as 113 bytes of bits (1 = land, first cell in the
high bit of the first byte).
"""

from __future__ import annotations

import gzip
from pathlib import Path

from .landmask import BCOLS, BLOCK, BROWS, MAGIC, MASK_FILE

__all__ = ["build", "main"]


def build() -> bytes:
    import numpy as np
    from global_land_mask import globe

    land = ~np.asarray(globe._mask, dtype=bool)  # the module's array: True means ocean
    # The same cells globe.is_land reads: row = (90 - lat) * 120, col = (lon + 180) * 120.
    assert land.shape == (BROWS * BLOCK, BCOLS * BLOCK)
    blocks = land.reshape(BROWS, BLOCK, BCOLS, BLOCK).transpose(0, 2, 1, 3)
    any_land = blocks.any(axis=(2, 3))
    all_land = blocks.all(axis=(2, 3))
    classes = np.where(all_land, 1, np.where(any_land, 2, 0)).astype(np.uint8)
    mixed = blocks[classes == 2].reshape(-1, BLOCK * BLOCK)
    bits = np.packbits(mixed, axis=1)
    return gzip.compress(MAGIC + classes.tobytes() + bits.tobytes(), 9, mtime=0)


def main() -> None:
    path = Path(__file__).parent / MASK_FILE
    path.write_bytes(build())
    print(f"wrote {path} ({path.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
