"""Open a report in a real browser (headless Chromium) as a reader would, and measure it.

Used by the tests of every report and by ``tools/report_screenshots.py``. It drives
the system's Chromium (Debian package ``chromium``) through Playwright's Python
client (PyPI ``playwright``, test dependency) with ``executable_path``: no browser
download, no network. The browser runs headless with a fresh profile folder and
without background networking, sync, component updates or QUIC.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["CHROMIUM_FLAGS", "PageCheck", "check_page", "check_pages", "chromium_path", "open_browser"]

#: Command-line switches of the headless browser: no sandbox (root in CI), no GPU, nothing
#: that reaches the network by itself.
CHROMIUM_FLAGS: tuple[str, ...] = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
)


def chromium_path() -> str | None:
    """The Chromium executable: ``$WORKSTATION_CHROMIUM``, else ``chromium`` on PATH, else None."""
    given = os.environ.get("WORKSTATION_CHROMIUM")
    if given:
        return given
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


@dataclass
class PageCheck:
    """What a reader's browser saw of one page.

    Attributes
    ----------
    scroll_width_px, window_width_px:
        Width of the laid-out page and of the window; the page overflows
        horizontally when the first is larger.
    summary_top_px:
        Top of the element ``#summary`` from the top of the page (None: no such element).
    window_height_px:
        Height of the first screen.
    console_errors:
        Console messages of type error and uncaught page errors.
    """

    scroll_width_px: int
    window_width_px: int
    window_height_px: int
    summary_top_px: float | None
    console_errors: list[str] = field(default_factory=list)

    @property
    def overflows(self) -> bool:
        return self.scroll_width_px > self.window_width_px

    @property
    def summary_in_first_screen(self) -> bool:
        return self.summary_top_px is not None and self.summary_top_px < 0.5 * self.window_height_px


@contextmanager
def open_browser(width_px: int = 1280, height_px: int = 800, executable: str | None = None) -> Iterator[Any]:
    """A Playwright page in headless Chromium with a fresh profile, closed on exit."""
    from playwright.sync_api import sync_playwright

    exe = executable or chromium_path()
    if exe is None:
        raise FileNotFoundError("No Chromium found: install the Debian package chromium or set "
                                "WORKSTATION_CHROMIUM to the browser executable.")
    with sync_playwright() as pw, tempfile.TemporaryDirectory(prefix="report-browser-") as profile:
        context = pw.chromium.launch_persistent_context(
            profile, executable_path=exe, headless=True, args=list(CHROMIUM_FLAGS[1:]),
            viewport={"width": width_px, "height": height_px}, offline=True,
        )
        try:
            yield context.new_page()
        finally:
            context.close()


def check_page(
    page: Any,
    html_path: str | os.PathLike[str],
    screenshot: str | os.PathLike[str] | None = None,
    full_page_screenshot: str | os.PathLike[str] | None = None,
) -> PageCheck:
    """Load ``html_path`` in ``page`` (from :func:`open_browser`) and measure it."""
    errors: list[str] = []

    def on_console(msg: Any) -> None:
        if msg.type == "error":
            errors.append(msg.text)

    def on_error(exc: Any) -> None:
        errors.append(str(exc))

    page.on("console", on_console)
    page.on("pageerror", on_error)
    try:
        page.goto(Path(html_path).resolve().as_uri(), wait_until="load")
        m = page.evaluate(
            "() => { const s = document.getElementById('summary');"
            " return [document.documentElement.scrollWidth, window.innerWidth, window.innerHeight,"
            " s ? s.getBoundingClientRect().top + window.scrollY : null]; }"
        )
        if screenshot is not None:
            page.screenshot(path=str(screenshot), full_page=False)
        if full_page_screenshot is not None:
            page.screenshot(path=str(full_page_screenshot), full_page=True)
    finally:
        page.remove_listener("console", on_console)
        page.remove_listener("pageerror", on_error)
    return PageCheck(int(m[0]), int(m[1]), int(m[2]), None if m[3] is None else float(m[3]), errors)


def check_pages(
    html_paths: Sequence[str | os.PathLike[str]],
    width_px: int = 1280,
    height_px: int = 800,
    screenshot_dir: str | os.PathLike[str] | None = None,
) -> dict[str, PageCheck]:
    """:func:`check_page` for several files in one browser; screenshots ``<stem>.png`` of the first
    screen into ``screenshot_dir`` when given."""
    out: dict[str, PageCheck] = {}
    with open_browser(width_px, height_px) as page:
        for path in html_paths:
            shot = None if screenshot_dir is None else Path(screenshot_dir) / f"{Path(path).stem}.png"
            out[str(path)] = check_page(page, path, screenshot=shot)
    return out
