"""What mda hands to people and partner systems as files and messages: the offline incident
map (``report``), signed incident extracts (``extract``, checked by ``verify``) and the alert
feed over MQTT (``publish``). Below the web tier and the shell,
so that the CLI (``mda analyze --map``) and the web serve the same products; above the store,
whose alerts they carry. Imported lazily: ``import mda.exchange`` costs nothing."""

__all__ = ["ExchangeError"]

from .errors import ExchangeError
