"""How the samples in this folder were made (a developer tool, not run by the tests).

No real AIS-catcher JSON, gpsd JSON or national-archive CSV of a few hundred rows could be
had offline, so each is made from one real recording, the Norwegian coast capture of
2023-04-21 22:29 UTC (``../norway/barentswatch_2023-04-21.nmea.gz``, NLOD 2.0), by the real
programs where they exist:

- ``norway.nmea``: its first 700 lines, unchanged (the NMEA the others are compared with);
- ``norway.aiscatcher.jsonl``: those lines through AIS-catcher's own decoder (PyPI
  ``aiscat`` 0.68.16, AIS-catcher's C++ core), JSON output (AIS-catcher ``-o 5``), one
  object a message, unchanged (its ``rxuxtime``/``rxtime`` are the conversion's wall
  clock; ``toa`` is the tag block's receive time);
- ``norway.gpsd.jsonl``: those lines through gpsd's ``gpsdecode`` (Debian gpsd-clients
  3.25), unchanged;
- ``norway.dma.csv`` and ``norway.marinecadastre.csv``: one row per position message of
  those lines in the Danish Maritime Authority's and US MarineCadastre's column layouts,
  values from AIS-catcher's decode (``aiscat``): time the tag block's ``c:``, static
  columns from the vessel's latest type 5, status and ship type in the DMA's words.

    python make_samples.py    # with aiscat installed and gpsdecode on the PATH
"""

import csv
import gzip
import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import aiscat

HERE = Path(__file__).resolve().parent
SOURCE = HERE.parent / "norway" / "barentswatch_2023-04-21.nmea.gz"
N = 700

STATUS = {
    0: "Under way using engine",
    1: "At anchor",
    2: "Not under command",
    3: "Restricted maneuverability",
    4: "Constrained by her draught",
    5: "Moored",
    6: "Aground",
    7: "Engaged in fishing",
    8: "Under way sailing",
    15: "Unknown value",
}
GROUPS = [
    (20, 29, "WIG"),
    (30, 30, "Fishing"),
    (31, 31, "Towing"),
    (32, 32, "Towing long/wide"),
    (33, 33, "Dredging"),
    (34, 34, "Diving"),
    (35, 35, "Military"),
    (36, 36, "Sailing"),
    (37, 37, "Pleasure"),
    (40, 49, "HSC"),
    (50, 50, "Pilot"),
    (51, 51, "SAR"),
    (52, 52, "Tug"),
    (53, 53, "Port tender"),
    (54, 54, "Anti-pollution"),
    (55, 55, "Law enforcement"),
    (58, 58, "Medical"),
    (59, 59, "Not party to conflict"),
    (60, 69, "Passenger"),
    (70, 79, "Cargo"),
    (80, 89, "Tanker"),
    (90, 99, "Other"),
]


def ship_words(code):
    for lo, hi, words in GROUPS:
        if lo <= (code or 0) <= hi:
            return words
    return "Undefined"


def main():
    lines = gzip.open(SOURCE, "rt").read().splitlines()[:N]
    (HERE / "norway.nmea").write_text("\n".join(lines) + "\n")
    raw = [(ln + "\n").encode() for ln in lines]
    with open(HERE / "norway.aiscatcher.jsonl", "wb") as f:
        for m in aiscat.iter_decode(raw, format="json"):
            f.write(m + b"\n")
    out = subprocess.run(
        ["gpsdecode", "-j"],
        input="\n".join(lines) + "\n",
        text=True,
        capture_output=True,
        check=True,
    ).stdout
    (HERE / "norway.gpsd.jsonl").write_text(out)
    statics, dma, us = {}, [], []
    for m in aiscat.iter_decode(raw, format="dictionary"):
        if m["type"] == 5:
            statics[m["mmsi"]] = m
            continue
        if m["type"] not in (1, 2, 3):
            continue
        s = statics.get(m["mmsi"], {})
        t = datetime.fromtimestamp(m["toa"], UTC)
        turn = "" if m.get("turn_unscaled") in (-128, 127, -127) else round(m.get("turn", 0), 1)
        # AIS-catcher's floats are single precision: tenths, as the archives publish them.
        sog = "" if m.get("speed", 102.3) >= 102.3 else round(m["speed"], 1)
        cog = "" if m.get("course", 360) >= 360 else round(m["course"], 1)
        hdg = "" if m.get("heading", 511) == 511 else m["heading"]
        name = s.get("shipname") or ""
        dma.append(
            [
                t.strftime("%d/%m/%Y %H:%M:%S"),
                "Class A",
                m["mmsi"],
                f"{m['lat']:.6f}",
                f"{m['lon']:.6f}",
                STATUS.get(m.get("status", 15), "Unknown value"),
                turn,
                sog,
                cog,
                hdg,
                "Unknown",
                s.get("callsign") or "Unknown",
                name,
                ship_words(s.get("shiptype")),
                "",
                "",
                "",
                "Undefined",
                "",
                "Unknown",
                "",
                "AIS",
                "",
                "",
                "",
                "",
            ]
        )
        us.append(
            [
                m["mmsi"],
                t.strftime("%Y-%m-%dT%H:%M:%S"),
                f"{m['lat']:.5f}",
                f"{m['lon']:.5f}",
                round(m.get("speed", 102.3), 1),
                round(m.get("course", 360.0), 1),
                m.get("heading", 511),
                name,
                "",
                s.get("callsign") or "",
                s.get("shiptype") or "",
                m.get("status", 15),
                "",
                "",
                "",
                "",
                "A",
            ]
        )
    with open(HERE / "norway.dma.csv", "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(
            [
                "# Timestamp",
                "Type of mobile",
                "MMSI",
                "Latitude",
                "Longitude",
                "Navigational status",
                "ROT",
                "SOG",
                "COG",
                "Heading",
                "IMO",
                "Callsign",
                "Name",
                "Ship type",
                "Cargo type",
                "Width",
                "Length",
                "Type of position fixing device",
                "Draught",
                "Destination",
                "ETA",
                "Data source type",
                "A",
                "B",
                "C",
                "D",
            ]
        )
        w.writerows(dma)
    with open(HERE / "norway.marinecadastre.csv", "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(
            [
                "MMSI",
                "BaseDateTime",
                "LAT",
                "LON",
                "SOG",
                "COG",
                "Heading",
                "VesselName",
                "IMO",
                "CallSign",
                "VesselType",
                "Status",
                "Length",
                "Width",
                "Draft",
                "Cargo",
                "TransceiverClass",
            ]
        )
        w.writerows(us)
    print(json.dumps({"nmea": len(lines), "dma": len(dma), "us": len(us)}))


if __name__ == "__main__":
    main()
