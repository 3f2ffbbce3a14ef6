"""Documents for readers beyond the report's reviewer, all drawn from the run's status (the ledger) and evidence:
the model card (Markdown, and HTML from it), the data dictionary, the risk summary for executives, pre-filled
incident-response and rollback runbooks, and the certificate as PDF.

The PDF is the certificate's HTML printed by headless Chromium, the same engine the pages are checked in, so the two
cannot drift apart; without a Chromium the PDF is skipped with a warning and every other document is still written.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import markdown

from certification.profiling import DICTIONARY

log = logging.getLogger(__name__)

MARKDOWN = ("model-card.md", "incident-response.md", "rollback.md")
KEY_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc", "brier")
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "chrome")


def number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return str(value) if isinstance(value, int) else f"{value:.4g}"


def limits(result: dict[str, Any]) -> list[str]:
    """Each min_/max_ bound of a check as 'measure value ≥ limit'."""
    measured, threshold = result.get("measured") or {}, result.get("threshold") or {}
    found = []
    for key, limit in threshold.items():
        kind, name = key[:4], key[4:]
        if kind in ("min_", "max_") and name in measured:
            found.append(f"{name} {number(measured[name])} {'≥' if kind == 'min_' else '≤'} {number(limit)}")
    return found


def previous_certificate(ledger: Any, run: dict[str, Any]) -> dict[str, Any] | None:
    """The newest standing, unexpired certificate of another version of the same registry model (`models:/name/N`):
    where a rollback goes."""
    from certification import postmarket, tracking
    from certification.jsonutil import utcnow

    reference = str(run["model_reference"] or "")
    if not reference.startswith("models:/"):
        return None
    name = tracking.parse_uri(reference)[0]
    rows = ledger.query(
        "SELECT c.certificate_id, c.run_id, c.issued_at, c.expires_at, r.model_reference FROM {s}.certificates c "
        "JOIN {s}.runs r ON r.run_id = c.run_id WHERE r.model_reference <> :ref ORDER BY c.issued_at DESC",
        ref=reference,
    )
    now = utcnow()
    return next(
        (
            row
            for row in rows
            if re.fullmatch(rf"models:/{re.escape(name)}/\d+", str(row["model_reference"] or ""))
            and row["expires_at"] > now
            and postmarket.withdrawn(ledger, row["certificate_id"]) is None
        ),
        None,
    )


def context(folder: Path, status: dict[str, Any], previous: dict[str, Any] | None = None) -> dict[str, Any]:
    from certification import postmarket, watchlist
    from certification.spec import Spec

    run = status["run"]
    spec = run.get("spec_json") or {}
    results = status["results"]
    by_id = {r["check_id"]: r for r in results}
    estimates = (by_id.get("evaluation.performance", {}).get("measured") or {}).get("estimates") or {}
    path = folder / DICTIONARY
    dictionary = json.loads(path.read_text()) if path.exists() else []
    certificate = (status.get("certificate") or {}).get("document_json")
    decision = status.get("final") or status.get("gate") or {}
    name = postmarket.model_name(run, Spec.model_validate(spec)) if spec else run["use_case"]
    return {
        "s": status,
        "run": run,
        "spec": spec,
        "doc": spec.get("documentation") or {},
        "results": results,
        "stages": {
            stage: [r for r in results if r["stage"] == stage]
            for stage in dict.fromkeys(r["stage"] for r in results)
        },
        "estimates": {name: estimates[name] for name in KEY_METRICS if name in estimates},
        "dictionary": dictionary,
        "certificate": certificate,
        "decision": decision,
        "concerns": [r for r in results if r["status"] in ("fail", "error", "warn")],
        "open_findings": [f for f in status.get("findings") or [] if f["state"] != "resolved"],
        "gaps": [t for t in status.get("traceability") or [] if t["status"] not in ("met",)],
        "previous": previous,
        "model_name": name,
        "monitor_dag": watchlist.dag_id(name),
    }


def write(
    folder: Path, status: dict[str, Any], env: Any, previous: dict[str, Any] | None = None
) -> list[Path]:
    """Write the documents this run calls for: none before the automated gate has judged it (an error run has only
    its report), the runbooks and the PDF only for a certified model."""
    if not status.get("gate"):
        return []
    values = context(folder, status, previous)
    certified = values["certificate"] is not None
    paths = []
    for name in MARKDOWN if certified else MARKDOWN[:1]:
        text = env.get_template(name).render(**values)
        page = _markdown_to_html(text)
        title = text.splitlines()[0].lstrip("# ")
        (folder / name).write_text(text, encoding="utf-8")
        html = folder / name.replace(".md", ".html")
        html.write_text(env.get_template("markdown.html").render(title=title, body=page), encoding="utf-8")
        paths += [folder / name, html]
    for name in ("data-dictionary.html", "risk-summary.html"):
        (folder / name).write_text(env.get_template(name).render(**values), encoding="utf-8")
        paths.append(folder / name)
    if certified:
        pdf = print_pdf(folder / "certificate.html", folder / "certificate.pdf")
        paths += [pdf] if pdf else []
    return paths


def _markdown_to_html(text: str) -> str:
    """Markdown without its raw-HTML pass-through: a value such as a check message is shown, never interpreted."""
    converter = markdown.Markdown(extensions=["tables", "sane_lists"])
    converter.preprocessors.deregister("html_block")
    converter.inlinePatterns.deregister("html")
    return converter.convert(text)


def browser() -> str | None:
    """$CERTIFICATION_CHROMIUM if set (and runnable), else the first Chromium on PATH."""
    names = [os.environ["CERTIFICATION_CHROMIUM"]] if os.environ.get("CERTIFICATION_CHROMIUM") else BROWSERS
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
