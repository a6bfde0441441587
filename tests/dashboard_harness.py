"""What the dashboard's browser tests share: where Chromium is, the token, the processes
they start, and where screenshots go."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import Page

TESTS = Path(__file__).resolve().parent
CHROMIUM = os.environ.get("PQ_TEST_CHROMIUM", "/usr/bin/chromium")
# No browser download, no network: Debian's Chromium with everything that phones home off.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TOKEN = "browser-test-token"
SCREENSHOTS = TESTS / "browser" / "screenshots"  # git-ignored; docs/img keeps chosen copies


@dataclass
class Process:
    proc: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@dataclass
class Dashboard(Process):
    url: str


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
