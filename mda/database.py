"""Which database the service uses: the configured URL, or the embedded default."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from .settings import Settings


@contextlib.contextmanager
def database_url(settings: Settings, override: str | None = None) -> Iterator[str]:
    """Yield the URL to use; with none configured, run the embedded PostgreSQL meanwhile."""
    url = override or settings.database_url
    if url:
        yield url
        return
    from mda.store.embedded import embedded_database

    with embedded_database(settings.data_path) as embedded_url:
        yield embedded_url
