"""Made-up but well-formed identities: MMSIs with real flag MIDs, IMO numbers with a valid
check digit, call signs, names, dimensions and draughts by role."""

from __future__ import annotations

import random

from .routes import FISHING_GROUNDS, PORTS

__all__ = ["Registry", "ROLE_CLASS", "imo_check_digit"]

ROLE_CLASS = {
    "cargo": "A",
    "container": "A",
    "tanker": "A",
    "passenger": "A",
    "fishing_a": "A",
    "fast": "A",
    "fishing_b": "B",
    "pleasure": "B",
}

# Flags of convenience and regional flags (maritime identification digits).
_OCEAN_MIDS = (
    352,
    353,
    355,
    356,
    357,
    370,
    371,
    372,
    373,
    636,
    538,
    563,
    564,
    565,
    566,
    248,
    249,
    256,
    477,
    240,
    241,
    413,
    414,
    419,
    419,
    470,
    461,
)
_LOCAL_MIDS = (419, 419, 419, 417, 405, 463, 461, 470, 473, 533)

_WORDS_A = (
    "ARABIAN",
    "MALABAR",
    "CORAL",
    "MONSOON",
    "OCEAN",
    "INDIGO",
    "SAFFRON",
    "LOTUS",
    "NORTHERN",
    "SOUTHERN",
    "EASTERN",
    "GOLDEN",
    "SILVER",
    "BLUE",
    "PACIFIC",
    "ANDAMAN",
    "KONKAN",
    "CEYLON",
    "BENGAL",
    "ZANJ",
    "AMBER",
    "JADE",
    "PEARL",
    "CRIMSON",
)
_WORDS_B = (
    "STAR",
    "PEARL",
    "SPIRIT",
    "GRACE",
    "HARMONY",
    "VOYAGER",
    "TRADER",
    "PIONEER",
    "HORIZON",
    "BREEZE",
    "DAWN",
    "GLORY",
    "FORTUNE",
    "PRIDE",
    "WAVE",
    "CROWN",
    "EXPRESS",
    "NAVIGATOR",
    "ENDEAVOUR",
    "MARINER",
)
_FISH_NAMES = (
    "SAGAR",
    "MATSYA",
    "JALDEVI",
    "SAMUDRA",
    "AL NOOR",
    "AL AMAL",
    "LANKA PUTHRA",
    "MEENA",
    "DARYA",
    "BARAKAH",
    "SINDHU",
    "NEELA",
)

_DIMS = {  # length range (m), beam ratio, draught range (m), ship types
    "cargo": ((100, 230), 0.16, (7.0, 12.5), (70, 70, 70, 74, 79)),
    "container": ((210, 400), 0.14, (11.0, 15.5), (71, 70)),
    "tanker": ((180, 333), 0.18, (9.0, 21.0), (80, 80, 84, 89)),
    "passenger": ((120, 300), 0.13, (6.0, 8.5), (60, 69)),
    "fishing_a": ((25, 70), 0.25, (3.5, 6.5), (30,)),
    "fast": ((30, 60), 0.25, (1.5, 2.5), (40,)),
    "fishing_b": ((9, 20), 0.3, (1.0, 2.5), (30,)),
    "pleasure": ((8, 20), 0.3, (1.0, 2.5), (37, 36)),
}


def imo_check_digit(six: str) -> int:
    return sum(int(d) * w for d, w in zip(six, range(7, 1, -1))) % 10


class Registry:
    """Hands out unique identities, deterministically for a seed."""

    def __init__(self, seed: int):
        self.rng = random.Random(f"{seed}:identities")
        self.used: set[int] = set()
        self.names: set[str] = set()

    def mmsi(self, mids=_OCEAN_MIDS) -> int:
        while True:
            m = self.rng.choice(mids) * 1_000_000 + self.rng.randrange(100_000, 999_990)
            if m not in self.used:
                self.used.add(m)
                return m

    def sart_mmsi(self) -> int:
        while True:  # 970 + manufacturer (2 digits) + serial (4 digits)
            m = 970_000_000 + self.rng.randrange(1, 100) * 10_000 + self.rng.randrange(10_000)
            if m not in self.used:
                self.used.add(m)
                return m

    def _name(self, role: str) -> str:
        rng = self.rng
        for _ in range(100):
            if role in ("fishing_a", "fishing_b"):
                name = f"{rng.choice(_FISH_NAMES)} {rng.randint(1, 99)}"
            elif role == "pleasure":
                name = f"{rng.choice(_WORDS_A)} {rng.choice(('DREAM', 'SPRITE', 'WIND', 'SONG'))}"
            else:
                name = f"{rng.choice(_WORDS_A)} {rng.choice(_WORDS_B)}"
            if name not in self.names:
                break
        else:
            name = f"{name} {len(self.names)}"
        self.names.add(name)
        return name[:20]

    def identity(self, role: str, ship_type: int | None = None) -> dict:
        rng = self.rng
        (lo, hi), beam, (d_lo, d_hi), types = _DIMS[role]
        cls = ROLE_CLASS[role]
        mmsi = self.mmsi(
            _LOCAL_MIDS if role in ("fishing_a", "fishing_b", "pleasure", "fast") else _OCEAN_MIDS
        )
        length = rng.randint(lo, hi)
        width = max(3, int(length * beam))
        bow = int(length * rng.uniform(0.6, 0.85))
        port_side = width // 2
        six = f"{rng.randint(900000, 999999)}"[:6] if cls == "A" else ""
        has_imo = six and role not in ("fishing_a", "fast")
        imo = int(six + str(imo_check_digit(six))) if has_imo else 0
        letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
        callsign = "".join(rng.choice(letters) for _ in range(2)) + "".join(
            rng.choice(letters + "0123456789") for _ in range(rng.randint(2, 4))
        )
        return {
            "mmsi": mmsi,
            "cls": cls,
            "ship_type": ship_type or rng.choice(types),
            "name": self._name(role),
            "callsign": callsign,
            "imo": imo,
            "dims": (bow, length - bow, port_side, width - port_side),
            "draught": round(rng.uniform(d_lo, d_hi), 1),
        }

    def home_port(self, rng: random.Random, role: str) -> str:
        if role in ("fishing_a", "fishing_b", "pleasure"):
            return rng.choice(sorted({home for _, _, home in FISHING_GROUNDS.values()}))
        return rng.choice(sorted(PORTS))
