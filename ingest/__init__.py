"""AIS ingest: feeds in, normalised and de-duplicated records out.

Public surface (everything else is an implementation detail):

- ``open_source(uri, *, name=None, speed=None)``: an async feed of line batches
  (``file:``/path, ``tcp://``, ``udp://``, ``mqtt://``, ``-``);
- ``Decoder``: ``feed(lines, recv_ts, source) -> Batch``, ``flush()``, ``stats``;
- the records that leave ingest: ``PositionReport``, ``VesselInfo``, ``RawSentence``;
- ``Backoff``: the one reconnect/retry backoff, also used by store, web and the shell.
"""

from mda.ingest.backoff import Backoff
from mda.ingest.decoder import Batch, Decoder
from mda.ingest.errors import IngestError, SourceError
from mda.ingest.records import PositionReport, RawSentence, VesselInfo, utc
from mda.ingest.sources import LineBatch, Source, open_source
from mda.ingest.stats import REASONS, IngestStats

__all__ = [
    "Backoff",
    "Batch",
    "Decoder",
    "IngestError",
    "IngestStats",
    "LineBatch",
    "PositionReport",
    "REASONS",
    "RawSentence",
    "Source",
    "SourceError",
    "VesselInfo",
    "open_source",
    "utc",
]
