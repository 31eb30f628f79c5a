"""Debian's chromium driven by Playwright, for the console's browser tests and screenshots.

Playwright is never allowed to download a browser: it launches the system's ``chromium`` by its
path, with the flags that keep it quiet on a machine without internet (without the background
networking flags it floods a closed network with connections).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

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


def chromium_path() -> Path | None:
    """Debian's chromium, where it is installed (``apt-get install chromium``)."""
    found = shutil.which("chromium") or "/usr/bin/chromium"
    return Path(found) if Path(found).exists() else None


def launch(playwright: Any, profile: str | Path, width: int = 1280, height: int = 900) -> Any:
    """A chromium browser context with a fresh profile folder (Playwright's ``sync_playwright()``)."""
    path = chromium_path()
    if path is None:
        from justask.errors import JustAskError

        raise JustAskError("Debian's chromium is not installed (apt-get install chromium)")
    return playwright.chromium.launch_persistent_context(
        str(profile), executable_path=str(path), args=list(FLAGS), viewport={"width": width, "height": height}
    )
