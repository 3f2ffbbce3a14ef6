"""The certificate as PDF: its HTML printed by headless Chromium, the same engine the pages are checked in, so the two
cannot drift apart; without a Chromium the PDF is skipped with a warning and every other document is still written."""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
from pathlib import Path

from certification.config import settings

log = logging.getLogger(__name__)
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "chrome")


def browser() -> str | None:
    """$CERTIFICATION_CHROMIUM if set (and runnable), else the first Chromium on PATH."""
    chosen = settings().chromium
    names = [chosen] if chosen else BROWSERS
    return next((found for name in names if (found := shutil.which(name))), None)


def print_pdf(html: Path, pdf: Path) -> Path | None:
    """Print a page to A4 PDF with headless Chromium (its print CSS applies); None, with a warning, without one."""
    executable = browser()
    if executable is None:
        log.warning("no Chromium found (set CERTIFICATION_CHROMIUM): %s not written", pdf.name)
        return None
    with tempfile.TemporaryDirectory() as profile:  # a throwaway profile: no state shared between runs
        command = [
            executable,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-pdf-header-footer",
            f"--user-data-dir={profile}",
            f"--print-to-pdf={pdf}",
            html.resolve().as_uri(),
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0 or not pdf.exists():
        log.warning("%s could not be printed to PDF: %s", html.name, done.stderr[-500:])
        return None
    return pdf
