"""The web tier: what serves people over HTTP. The REST API, the live WebSocket hub, the
watch officer's map page, login and sessions (files and MQTT feeds are ``exchange``'s).

Entry points (imported lazily, so ``import web`` costs nothing):

- ``create_app(settings, db_url, hub=..., status=...)``: the ASGI application
- ``LiveHub``: the pipeline listener that pushes positions, alerts and feed status
- ``WebError``: the one error type, turned into JSON or a page by one handler

See web/README.md for the modules, the routes, the roles and the auth model.
"""

__all__ = ["create_app", "LiveHub", "WebError"]


def __getattr__(name: str):
    if name == "create_app":
        from .app import create_app

        return create_app
    if name == "LiveHub":
        from .live import LiveHub

        return LiveHub
    if name == "WebError":
        from .errors import WebError

        return WebError
    raise AttributeError(f"module 'web' has no attribute {name!r}")
