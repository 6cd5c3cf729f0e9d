"""Headless Chromium for checking HTML pages (the reports): the distribution's browser, driven by playwright.

The browser is the system's (Debian: ``apt-get install chromium``; another path with
``VOLLEY_CHROMIUM``), never one playwright downloads. Each session gets a fresh profile directory,
and every request the page makes is recorded (and anything but ``file:``/``data:``/``about:``
refused), so a test can assert that a page needs no network.

Example::

    with open_page("report.html") as (page, log):
        assert not log.errors
        page.screenshot(path="report.png", full_page=True)
"""

from __future__ import annotations

import base64
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._optional import need

CHROMIUM = "/usr/bin/chromium"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
LOCAL_SCHEMES = ("file:", "data:", "about:", "blob:")


def chromium_path() -> str:
    """The browser binary: ``$VOLLEY_CHROMIUM`` or ``/usr/bin/chromium``."""
    return os.environ.get("VOLLEY_CHROMIUM") or CHROMIUM


@dataclass
class PageLog:
    """What a page did: console messages, uncaught errors, and every URL it requested."""

    console: list[tuple[str, str]] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[str]:
        """Console errors and uncaught exceptions."""
        return [text for kind, text in self.console if kind == "error"] + self.page_errors

    @property
    def remote_requests(self) -> list[str]:
        """Requests to anything but local files and inline data."""
        return [u for u in self.requests if not u.startswith(LOCAL_SCHEMES)]


@contextmanager
def open_page(path: str | os.PathLike[str], *, width: int = 1400, height: int = 900) -> Iterator[tuple[Any, PageLog]]:
    """Open a local HTML file in headless Chromium; yields the playwright ``Page`` (loaded) and its :class:`PageLog`."""
    sync_api = need("playwright.sync_api", extra="dev", purpose="driving Chromium", package="playwright")
    binary = chromium_path()
    if not Path(binary).exists():
        raise FileNotFoundError(f"no Chromium at {binary} (Debian: apt-get install chromium; or set VOLLEY_CHROMIUM)")
    log = PageLog()
    with sync_api.sync_playwright() as pw, tempfile.TemporaryDirectory(prefix="volley-chromium-") as profile:
        size = {"width": width, "height": height}
        context = pw.chromium.launch_persistent_context(
            profile, executable_path=binary, headless=True, args=list(FLAGS), viewport=size
        )
        try:
            page = context.new_page()
            page.on("console", lambda m: log.console.append((m.type, m.text)))
            page.on("pageerror", lambda e: log.page_errors.append(str(e)))
            page.on("request", lambda r: log.requests.append(r.url))
            page.route("**/*", lambda r: r.continue_() if r.request.url.startswith(LOCAL_SCHEMES) else r.abort())
            page.goto(Path(path).resolve().as_uri(), wait_until="load")
            yield page, log
        finally:
            context.close()


def image_stats(page: Any, png: bytes) -> dict[str, float]:
    """Decode a PNG in the browser itself: ``width``, ``height``, ``colors`` (distinct, sampled) and
    ``ink`` (the share of pixels unlike the top-left one). No imaging library needed."""
    url = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    stats: dict[str, float] = page.evaluate(
        """async (url) => {
            const img = new Image(); img.src = url; await img.decode();
            const c = document.createElement('canvas'); c.width = img.width; c.height = img.height;
            const g = c.getContext('2d'); g.drawImage(img, 0, 0);
            const d = g.getImageData(0, 0, c.width, c.height).data;
            const colors = new Set(); let ink = 0, n = 0;
            for (let i = 0; i < d.length; i += 4 * 7) {
                n++; colors.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
                if (Math.abs(d[i] - d[0]) + Math.abs(d[i + 1] - d[1]) + Math.abs(d[i + 2] - d[2]) > 30) ink++;
            }
            return {width: c.width, height: c.height, colors: colors.size, ink: ink / n};
        }""",
        url,
    )
    return stats
