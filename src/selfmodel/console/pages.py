"""Rendering console pages: Jinja2 with autoescape, and the headers every response carries.

Belief text, quotes and user ids are written by users, so every value is escaped (autoescape
on for every template, ``StrictUndefined`` so a typo fails a test instead of printing
nothing). The pages run no script at all: the Content-Security-Policy allows none, loads
styles only from the console itself (no inline style, no CDN), forbids framing and limits
form targets to this origin. Charts are inline SVG drawn from numbers computed in Python.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Any

import jinja2
from starlette.responses import HTMLResponse, RedirectResponse, Response

from selfmodel.console import fmt

CSP = ("default-src 'self'; script-src 'none'; style-src 'self'; img-src 'self' data:; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
HEADERS = {
    "content-security-policy": CSP,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    # Not "no-referrer": with it browsers send ``Origin: null`` on the console's own forms.
    # Same-origin still keeps a portal link's token from leaking to any other site.
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
    "cross-origin-opener-policy": "same-origin",
}


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("selfmodel.console", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(when=fmt.when, ago=fmt.ago, pct=fmt.pct, num=fmt.num)
    return env


def protect(response: Response) -> Response:
    """The console's security headers on any response."""
    response.headers.update(HEADERS)
    return response


def page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    html = environment().get_template(name).render(**context)
    response = HTMLResponse(html, status_code=status)
    protect(response)
    return response


def redirect(url: str) -> Response:
    """303: after a POST the browser GETs the next page (reload does not repeat the POST)."""
    return protect(RedirectResponse(url, status_code=303))


@lru_cache(maxsize=4)
def static_file(name: str) -> bytes:
    return (resources.files("selfmodel.console") / "static" / name).read_bytes()


def stylesheet() -> Response:
    response = Response(static_file("console.css"), media_type="text/css")
    protect(response)
    response.headers["cache-control"] = "public, max-age=3600"
    return response
