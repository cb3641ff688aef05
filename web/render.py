"""The HTML pages from ``templates/``: ``string.Template`` files read once, values escaped.

Pages carry no inline script (the Content-Security-Policy forbids it): what the page's
script needs comes in a ``<meta>`` tag (the CSRF token) and a JSON ``config`` blob.
"""

from __future__ import annotations

import functools
import html
import json
from pathlib import Path
from string import Template
from typing import Any

from starlette.responses import HTMLResponse

from .auth import AuthConfig, Principal

__all__ = ["template", "page"]

TEMPLATES = Path(__file__).resolve().parent / "templates"


@functools.cache
def template(name: str) -> Template:
    return Template((TEMPLATES / name).read_text(encoding="utf-8"))


def page(name: str, principal: Principal, cfg: AuthConfig, config: dict[str, Any]) -> HTMLResponse:
    """A logged-in page: the principal's name and role, its CSRF token, and ``config``."""
    csrf = cfg.csrf_token(principal.session_id) if principal.session_id else ""
    text = template(name).substitute(
        csrf=html.escape(csrf, quote=True),
        user=html.escape(principal.name),
        role=html.escape(principal.role),
        config=json.dumps(config).replace("<", "\\u003c").replace("&", "\\u0026"),
    )
    return HTMLResponse(text, headers={"Cache-Control": "no-store"})
