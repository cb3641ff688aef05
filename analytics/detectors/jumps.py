"""position_jump and identity_clash: reports no single vessel could have made.

position_jump: two consecutive fixes more than ``position_jump_min_distance_nm`` apart that
imply more than ``position_jump_min_speed_kn`` and more than ``position_jump_sog_factor`` times
the reported SOG (a fast craft reporting 60 kn is not jumping). The alert spans the two fixes;
further jumps within the cooldown reopen it rather than ringing again.

identity_clash: the jumps go back and forth between two places, each within
``identity_clash_window_min`` of the previous, at least ``identity_clash_min_jumps`` in a row:
two transmitters share one MMSI. (Two jumps, out and back, are one bad fix, not a clash.)
A jump "goes back" when it lands nearer the place the previous jump left than the length of
the jump itself allows for a coincidence: within half of it. The clash runs from the first to
the last alternation; it closes when a window passes without one. While it is open, jumps
feed it instead of opening position_jump alerts.

One alert per situation: the first jumps of a clash look like a bad fix until the clash is
recognised, so a jump is *held* (not published) while the jumps may still go on back and forth:
until ``position_jump_hold_min`` passes without a further alternating jump (on the vessel's
next fix, or on the engine's sweep if it falls silent), until a jump that does not alternate
starts a new chain, or until the end of the input (``flush``). The held jumps of one chain are
then published as one position_jump episode (``opened`` and ``closed``, or a reopening within
the cooldown). If the chain reaches ``identity_clash_min_jumps`` first, the clash opens and
the held jumps are dropped: they were its first alternations. A clash recognised only after
the hold (transmitters reporting less often than the hold) finds its first jump published
already; that alert is re-published closed, marked ``superseded_by: identity_clash`` with the
clash's key, and is no longer reopened. Without identity_clash, or with a hold of 0, jumps are
published at once.

Real feeds carry corrupted fixes (about one per vessel-day): a latitude off by a fixed amount,
often in the same second as a good fix. They are data-quality facts, not incidents, so:

* a jump out and straight back (at most ``glitch_max_fixes`` fixes at the far place, within
  ``glitch_max_min``) is published as a *notice*: the same position_jump episode with severity
  ``info``, which never rings on a desk;
* a clash needs a second transmitter: at least ``identity_clash_min_fixes`` fixes from the
  second place in seconds of their own (a copy stamped the same second as a good fix is a
  garbled copy) and joined at a speed a ship can make. Alternation without that is one
  transmitter's garbled positions: an ``identity_clash`` notice (``info``).

Every notice names the ``source`` (receiver) of the bad position, for the per-source counts.

Vessel slots: ``jumps`` (_JumpState or None), ``clash`` (open clash, or None).
"""

from __future__ import annotations

from ..alerts import AlertBook
from ..config import AnalyticsConfig
from ..geo import distance_nm
from ._text import iso_utc, position, r1

__all__ = ["PositionJumps"]


_MAX_HELD = 64  # jumps held in one chain before it is published anyway (bounded memory)


class _Jump:
    __slots__ = ("t0", "lat0", "lon0", "t1", "lat1", "lon1", "nm", "kn", "sog", "stayed", "source")

    def __init__(self, t0, lat0, lon0, t1, lat1, lon1, nm, kn, sog, stayed, source):
        self.t0, self.lat0, self.lon0 = t0, lat0, lon0
        self.t1, self.lat1, self.lon1 = t1, lat1, lon1
        self.nm, self.kn, self.sog = nm, kn, sog
        self.stayed = stayed  # quiet fixes at the place this jump left, since the last jump
        self.source = source  # receiver of the landing fix


class _JumpState:
    __slots__ = (
        "last",
        "chain",
        "chain_start",
        "episode_jumps",
        "held",
        "published",
        "published_t1",
        "since",
        "at_far",
        "far_fixes",
        "far_last",
        "far_ok",
        "far_same_second",
    )

    def __init__(self):
        self.last: _Jump | None = None
        self.chain = 0  # alternating jumps in a row, ending with ``last``
        self.chain_start = 0.0
        self.episode_jumps = 0
        self.held: list[_Jump] = []  # jumps of the current chain not published yet
        self.published = None  # handle of the latest published position_jump episode ...
        self.published_t1 = 0.0  # ... and the time of its latest jump's landing fix
        self.since = 0  # quiet fixes since the latest jump
        # The chain's far place (where its first jump landed): is it a second transmitter?
        self.at_far = False  # the latest jump landed there
        self.far_fixes = 0  # fixes from there in seconds of their own
        self.far_last: tuple[float, float, float] | None = None  # (t, lat, lon)
        self.far_ok = True  # consecutive far fixes joined at a speed a ship can make
        self.far_same_second = 0  # far fixes stamped the same second as the fix before


class _Clash:
    __slots__ = ("first", "last", "jumps", "a", "b", "handle")

    def __init__(self, first: float, last: float, a, b, jumps: int):
        self.first, self.last = first, last
        self.a, self.b = a, b  # the two places (lat, lon)
        self.jumps = jumps
        self.handle = None


class PositionJumps:
    def __init__(self, config: AnalyticsConfig, book: AlertBook, jump_on: bool, clash_on: bool):
        self.book = book
        self.min_nm = config.position_jump_min_distance_nm
        self.min_kn = config.position_jump_min_speed_kn
        self.factor = config.position_jump_sog_factor
        self.window = config.identity_clash_window_min * 60.0
        self.min_chain = config.identity_clash_min_jumps
        self.jump_on = jump_on
        self.clash_on = clash_on
        # Past the window no chain goes on, so a longer hold would only delay the alert.
        self.hold = (
            min(config.position_jump_hold_min * 60.0, self.window)
            if (jump_on and clash_on)
            else 0.0
        )
        self.min_far_fixes = config.identity_clash_min_fixes
        self.glitch_fixes = config.glitch_max_fixes
        self.glitch_s = config.glitch_max_min * 60.0
        self.holding: dict[int, object] = {}  # vessels with held jumps, by MMSI

    def on_move(
        self, v, ts: float, lat: float, lon: float, sog: float | None, source: str = ""
    ) -> bool:
        """A fix far enough from the last one to be a jump; True when it is one."""
        nm = distance_nm(v.lat, v.lon, lat, lon)
        if nm <= self.min_nm:
            self.on_quiet_fix(v, ts)
            return False
        dt = ts - v.ts
        kn = nm / (dt / 3600.0) if dt > 0 else float("inf")
        if kn <= self.min_kn or (sog is not None and kn <= self.factor * sog):
            self.on_quiet_fix(v, ts)
            return False
        state = v.jumps
        if state is None:
            state = v.jumps = _JumpState()
        jump = _Jump(v.ts, v.lat, v.lon, ts, lat, lon, nm, kn, sog, state.since, source)
        state.since = 0
        prev = state.last
        if (
            prev is not None
            and ts - prev.t1 <= self.window
            and distance_nm(lat, lon, prev.lat0, prev.lon0) < 0.5 * nm
        ):
            state.chain += 1
            self._far_evidence(state, jump, dt)
        else:
            state.chain = 1
            state.chain_start = jump.t1
            state.at_far = False
            state.far_fixes = state.far_same_second = 0
            state.far_last = None
            state.far_ok = True
            self._far_evidence(state, jump, dt)
        state.last = jump

        if state.chain == 1 and state.held:
            self._release(v)  # the back-and-forth stopped: the held jumps were no clash
        if v.clash is not None and state.chain == 1:
            self._end_clash(v)  # the back-and-forth stopped; this is a jump of its own
        if v.clash is not None:
            clash = v.clash
            clash.last = ts
            clash.jumps += 1
            self.book.update(clash.handle, ts)
        elif self.clash_on and state.chain >= self.min_chain and self._second_transmitter(state):
            clash = v.clash = _Clash(
                state.chain_start, ts, (jump.lat0, jump.lon0), (lat, lon), state.chain
            )
            clash.handle = self.book.open(
                "identity_clash",
                v.mmsi,
                clash.first,
                lat,
                lon,
                lambda a: self._describe_clash(clash, a),
                last=ts,
            )
            self._absorb(v, state, clash)
        elif self.jump_on:
            if self.hold > 0.0:
                state.held.append(jump)
                self.holding[v.mmsi] = v
                if len(state.held) >= _MAX_HELD:
                    self._release(v)
            else:
                self._ring(v, state, [jump])
        return True

    def _far_evidence(self, state: _JumpState, jump: _Jump, dt: float) -> None:
        """Account a jump of the chain for the question "is the far place a second
        transmitter?": fixes from there, in their own seconds, joined at ship speeds."""
        state.at_far = not state.at_far
        if state.at_far:  # landed at the far place
            if dt <= 0.0:
                state.far_same_second += 1
            else:
                state.far_fixes += 1
            last = state.far_last
            if last is not None and jump.t1 > last[0]:
                kn = distance_nm(last[1], last[2], jump.lat1, jump.lon1) / (
                    (jump.t1 - last[0]) / 3600.0
                )
                if kn > self.min_kn:
                    state.far_ok = False
            state.far_last = (jump.t1, jump.lat1, jump.lon1)
        else:  # left it: the quiet fixes it made there count as its own
            state.far_fixes += jump.stayed

    def _second_transmitter(self, state: _JumpState) -> bool:
        return state.far_ok and state.far_fixes >= self.min_far_fixes

    def on_quiet_fix(self, v, ts: float) -> None:
        """A fix of a vessel that jumped before, not itself a jump: held jumps are published
        once the hold passed, and a clash ends once a window passes with no alternation."""
        state = v.jumps
        if state is None:
            return
        state.since += 1
        held = state.held
        if held and ts - held[-1].t1 > self.hold:
            self._release(v)
        clash = v.clash
        if clash is not None and ts - clash.last > self.window:
            self._end_clash(v)

    def sweep(self, now: float) -> None:
        """Publish the held jumps of vessels silent since the hold passed (feed time)."""
        if self.holding:
            hold = self.hold
            for v in [v for v in self.holding.values() if now - v.jumps.held[-1].t1 > hold]:
                self._release(v)

    def flush(self) -> None:
        """End of input: publish every held jump (in the order the vessels first held one)."""
        for v in list(self.holding.values()):
            self._release(v)

    def _release(self, v) -> None:
        state = v.jumps
        held, state.held = state.held, []
        del self.holding[v.mmsi]
        self._ring(v, state, held)

    def _absorb(self, v, state: _JumpState, clash: _Clash) -> None:
        """A clash opened: its first alternations are not position jumps of their own."""
        if state.held:
            state.held = []
            del self.holding[v.mmsi]
        if state.published is not None and state.published_t1 >= clash.first:
            self.book.supersede(
                state.published,
                clash.handle.alert,
                "superseded: the first jumps of an identity clash of this MMSI",
            )
            state.published = None

    def _ring(self, v, state: _JumpState, jumps: list[_Jump]) -> None:
        """Publish jumps as one position_jump episode, from the first jump's last fix before to
        the last jump's landing fix, described by the last jump. A lone corrupted fix (out and
        straight back) is a notice; back and forth more often without a second transmitter is
        an identity_clash notice (garbled copies)."""
        first, last = jumps[0], jumps[-1]
        if len(jumps) >= 3 and self.clash_on and len(jumps) >= self.min_chain:
            self._garbled(v, jumps)
            return
        # Out and straight back: the far fixes are the first jump's landing fix and the quiet
        # fixes after it, the last of which the jump back left from.
        glitch = (
            len(jumps) == 2
            and last.stayed + 1 <= self.glitch_fixes
            and last.t0 - first.t1 <= self.glitch_s
        )
        severity = "info" if glitch else None
        if self.book.reopens("position_jump", v.mmsi, first.t0, notice=glitch):
            state.episode_jumps += len(jumps)  # within the cooldown: the same episode goes on
        else:
            state.episode_jumps = len(jumps)
        n = state.episode_jumps
        handle = self.book.open(
            "position_jump",
            v.mmsi,
            first.t0,
            first.lat1,
            first.lon1,
            lambda a: self._describe_jump(n, last, first if glitch else None),
            last=last.t1,
            severity=severity,
        )
        self.book.close(handle, last.t1)
        if not glitch:
            state.published = handle
            state.published_t1 = last.t1

    def _garbled(self, v, jumps: list[_Jump]) -> None:
        """Back and forth with no second transmitter behind the far positions: one notice."""
        first, last = jumps[0], jumps[-1]
        far = [(j.lat1, j.lon1) for j in jumps[0::2]]
        handle = self.book.open(
            "identity_clash",
            v.mmsi,
            first.t0,
            first.lat1,
            first.lon1,
            lambda a: self._describe_garbled(jumps, far, a),
            last=last.t1,
            severity="info",
        )
        self.book.close(handle, last.t1)

    def _end_clash(self, v) -> None:
        # The chain is left as it is: a clash ends when a window passes without an
        # alternation (the next jump starts a new chain anyway) or on a jump that starts one.
        clash = v.clash
        v.clash = None
        self.book.close(clash.handle, clash.last)

    def forget(self, v) -> None:
        if v.jumps is not None and v.jumps.held:
            self._release(v)
        if v.clash is not None:
            self._end_clash(v)

    def _describe_jump(self, episode_jumps: int, jump: _Jump, glitch: _Jump | None = None) -> dict:
        if glitch is not None:
            return {
                "distance_nm": r1(glitch.nm),
                "implied_sog_kn": r1(min(glitch.kn, 1e6)),
                "reported_sog_kn": r1(glitch.sog),
                "bad_position": [round(glitch.lat1, 5), round(glitch.lon1, 5)],
                "bad_time": iso_utc(glitch.t1),
                "jumps": episode_jumps,
                "source": glitch.source,
                "notice": "corrupted fix",
                "threshold_fixes": self.glitch_fixes,
                "text": (
                    f"One corrupted fix: reported {glitch.nm:.1f} nm away at "
                    f"{position(glitch.lat1, glitch.lon1)}"
                    + (" in the same second as a good fix" if glitch.t1 <= glitch.t0 else "")
                    + f", then back on its track (from "
                    f"{glitch.source or 'an unnamed source'}); a data-quality notice"
                ),
            }
        sog = "no SOG reported" if jump.sog is None else f"{jump.sog:.1f} kn reported"
        return {
            "distance_nm": r1(jump.nm),
            "implied_sog_kn": r1(min(jump.kn, 1e6)),
            "reported_sog_kn": r1(jump.sog),
            "from": [round(jump.lat0, 5), round(jump.lon0, 5)],
            "to": [round(jump.lat1, 5), round(jump.lon1, 5)],
            "from_time": iso_utc(jump.t0),
            "to_time": iso_utc(jump.t1),
            "jumps": episode_jumps,
            "source": jump.source,
            "threshold_nm": self.min_nm,
            "threshold_sog_kn": self.min_kn,
            "threshold_factor": self.factor,
            "text": (
                f"Jumped {jump.nm:.1f} nm in {max(jump.t1 - jump.t0, 0):.0f} s "
                f"(implied {min(jump.kn, 99999):.0f} kn, {sog}) from "
                f"{position(jump.lat0, jump.lon0)} to {position(jump.lat1, jump.lon1)}"
            ),
        }

    def _describe_garbled(self, jumps: list[_Jump], far: list, alert) -> dict:
        sources = sorted({j.source for j in jumps if j.source})
        spread = max(distance_nm(*far[0], *p) for p in far)
        return {
            "alternations": len(jumps),
            "far_positions": len(far),
            "far_spread_nm": r1(spread),
            "duration_min": round((jumps[-1].t1 - alert.start) / 60.0),
            "source": sources[0] if len(sources) == 1 else ",".join(sources),
            "notice": "garbled positions",
            "threshold_fixes": self.min_far_fixes,
            "text": (
                f"{len(jumps)} impossible jumps back and forth, but the far positions do "
                f"not form the track of a second transmitter ({len(far)} positions, "
                f"{spread:.0f} nm apart, or stamped the same second as good fixes): one "
                f"transmitter's garbled positions; a data-quality notice"
            ),
        }

    def _describe_clash(self, clash: _Clash, alert) -> dict:
        apart = distance_nm(*clash.a, *clash.b)
        return {
            "alternations": clash.jumps,
            "places": [[round(x, 5) for x in clash.a], [round(x, 5) for x in clash.b]],
            "apart_nm": r1(apart),
            "duration_min": round((clash.last - alert.start) / 60.0),
            "threshold_jumps": self.min_chain,
            "threshold_window_min": self.window / 60.0,
            "text": (
                f"Reported alternately from two places {apart:.0f} nm apart "
                f"({position(*clash.a)} and {position(*clash.b)}), {clash.jumps} impossible "
                f"jumps back and forth: two transmitters share this MMSI"
            ),
        }
