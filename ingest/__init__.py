"""AIS ingest: feeds in, normalised and de-duplicated records out.

Public surface (everything else is an implementation detail):

- ``open_source(uri, *, name=None, speed=None)``: an async feed of line batches
  (``file:``/path, ``tcp://``, ``udp://``, ``mqtt://``, ``-``);
- ``Decoder``: ``feed(lines, recv_ts, source, reader=None) -> Batch``, ``flush()``, ``stats``;
- ``make_reader(format, columns=...)``, ``FORMATS``: what a source's lines are when they are
  not NMEA (AIS-catcher JSON, gpsd JSON, decoded positions as JSON, CSV archives);
- the records that leave ingest: ``PositionReport``, ``VesselInfo``, ``RawSentence``;
- ``Backoff``: the one reconnect/retry backoff, also used by store, web and the shell.
"""

from mda.ingest.backoff import Backoff
from mda.ingest.decoder import Batch, Decoder
from mda.ingest.errors import IngestError, SourceError
from mda.ingest.formats import FORMATS, decoded_format, make_reader
from mda.ingest.records import PositionReport, RawSentence, VesselInfo, utc
from mda.ingest.sources import LineBatch, PushSource, Source, open_source
from mda.ingest.stats import REASONS, IngestStats

__all__ = [
    "Backoff",
    "Batch",
    "Decoder",
    "FORMATS",
    "IngestError",
    "IngestStats",
    "LineBatch",
    "PositionReport",
    "PushSource",
    "REASONS",
    "RawSentence",
    "Source",
    "SourceError",
    "VesselInfo",
    "decoded_format",
    "make_reader",
    "open_source",
    "utc",
]
