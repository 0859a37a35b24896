"""Helpers for console tests: a signed-in httpx client, and reading values out of pages."""

from __future__ import annotations

import html
import re
from typing import Any

import httpx

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(page: str) -> str:
    match = _CSRF.search(page)
    assert match, "the page has no form with a CSRF token"
    return html.unescape(match.group(1))


class ConsoleClient:
    """An httpx client that signs in to /console like a browser (cookies kept)."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=15, follow_redirects=False)
        self.csrf = ""

    def close(self) -> None:
        self.http.close()

    def sign_in(self, key: str | None) -> httpx.Response:
        page = self.http.get("/console/sign-in")
        data = {"csrf": csrf_of(page.text)}
        if key is not None:
            data["key"] = key
        response = self.http.post("/console/sign-in", data=data)
        if response.status_code == 303:
            self.csrf = csrf_of(self.http.get("/console/users").text)
        return response

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.http.get(path, params=params)

    def post(self, path: str, **data: str) -> httpx.Response:
        return self.http.post(path, data={"csrf": self.csrf, **data})
