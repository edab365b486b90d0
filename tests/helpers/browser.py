"""Headless Chromium for the browser tests (the report's page, the Ray dashboard)."""

from __future__ import annotations

from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
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


def needs_chromium(why: str = ""):
    """Skip where Debian's Chromium is missing (saying so); ``why``: what it is needed for."""
    reason = "needs /usr/bin/chromium (Debian package 'chromium'; CI's .ci/run installs it)"
    return pytest.mark.skipif(not CHROMIUM.exists(), reason=reason + why)
