"""Debian's Chromium, headless, driven by selenium through Debian's chromedriver.

Nothing is downloaded: both binaries come from apt (``.ci/run`` installs ``chromium`` and
``chromium-driver`` when absent) and selenium is told where they are, with Selenium Manager
kept offline. A test that needs the browser is skipped, saying why, only when the binaries
are not on this machine.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver

CHROMIUM = ("chromium", "chromium-browser")
DRIVER = ("chromedriver",)
SIZE = "1280,900"


def _find(names: tuple[str, ...]) -> str | None:
    for name in names:
        found = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists()
                                       else None)
        if found:
            return found
    return None


@contextmanager
def chromium(profile: Path) -> Iterator[WebDriver]:
    """A headless Chromium session (a selenium WebDriver), closed at the end."""
    browser, driver = _find(CHROMIUM), _find(DRIVER)
    if browser is None or driver is None:
        pytest.skip("chromium and chromedriver are not installed (apt-get install chromium "
                    "chromium-driver; .ci/run does it)")
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must never reach the network
    options = Options()
    options.binary_location = browser
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", f"--window-size={SIZE}",
                     f"--user-data-dir={profile}", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update"):
        options.add_argument(argument)
    session = webdriver.Chrome(service=Service(executable_path=driver), options=options)
    session.set_page_load_timeout(30)
    try:
        yield session  # type: ignore[misc]
    finally:
        session.quit()
