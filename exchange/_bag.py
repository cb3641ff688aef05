"""Make a BagIt bag of a folder with the Library of Congress's ``bagit`` package, in a child
process: ``python -m mda.exchange._bag FOLDER`` with the bag-info fields as a JSON object
on standard input.

Why a child process: ``bagit.make_bag`` and ``Bag.save`` change the *process's* working
directory while they work (``os.chdir``), which a service must not let happen under its
other tasks and threads. Run apart, the service's directory never moves.

The bag is BagIt 1.0 (RFC 8493): ``bagit.py`` 1.9 writes ``BagIt-Version: 0.97``, so
``bagit.txt`` is rewritten and the tag manifest made again with ``Bag.save`` (then sorted
by file name). SHA-256 manifests only. Errors go to standard error, one line, and the exit status is 1.
"""

from __future__ import annotations

import json
import sys

__all__ = ["make", "BAGIT_TXT"]

BAGIT_TXT = "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"


def make(folder: str, info: dict[str, str]) -> None:
    import os

    import bagit

    bagit.make_bag(folder, bag_info=dict(info), checksums=["sha256"])
    with open(os.path.join(folder, "bagit.txt"), "w", encoding="utf-8", newline="\n") as f:
        f.write(BAGIT_TXT)
    bagit.Bag(folder).save(manifests=False)  # the tag manifest again, over the new bagit.txt
    # bagit lists the tag files in the directory's order: sorted, two extracts of one alert
    # differ only where their contents do. (No manifest covers the tag manifest itself.)
    path = os.path.join(folder, "tagmanifest-sha256.txt")
    with open(path, encoding="utf-8") as f:
        lines = sorted(f.read().splitlines(), key=lambda line: line.split(" ", 1)[1])
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write("".join(line + "\n" for line in lines))
    bagit.Bag(folder).validate()


def main() -> int:
    import logging

    logging.basicConfig(level=logging.WARNING)  # bagit narrates every file at INFO
    try:
        make(sys.argv[1], json.load(sys.stdin))
    except Exception as e:  # reported to the parent as one line
        print(f"{type(e).__name__}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
