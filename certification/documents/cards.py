"""Documents for readers beyond the report's reviewer, all drawn from the run's status (the ledger) and evidence:
the model card (Markdown, and HTML from it), the data dictionary, the risk summary for executives, and pre-filled
incident-response and rollback runbooks; for a certified model also the certificate as PDF (pdf.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import markdown

from certification.checks.data_validation.profiling import DICTIONARY
from certification.documents._render import ENV, KEY_MULTICLASS_METRICS, KEY_REGRESSION_METRICS
from certification.documents.pdf import print_pdf
from certification.monitoring import watchlist
from certification.spec import Spec

MARKDOWN = ("model-card.md", "incident-response.md", "rollback.md")
KEY_METRICS = (
    "accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc", "brier", *KEY_MULTICLASS_METRICS,
    *KEY_REGRESSION_METRICS,
)  # fmt: skip


def context(folder: Path, status: dict[str, Any], previous: dict[str, Any] | None = None) -> dict[str, Any]:
    run = status["run"]
    spec = run.get("spec_json") or {}
    results = status["results"]
    by_id = {r["check_id"]: r for r in results}
    estimates = (by_id.get("evaluation.performance", {}).get("measured") or {}).get("estimates") or {}
    path = folder / DICTIONARY
    dictionary = json.loads(path.read_text()) if path.exists() else []
    certificate = (status.get("certificate") or {}).get("document_json")
    decision = status.get("final") or status.get("gate") or {}
    name = watchlist.model_name(run, Spec.model_validate(spec)) if spec else run["use_case"]
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


def write(folder: Path, status: dict[str, Any], previous: dict[str, Any] | None = None) -> list[Path]:
    """Write the documents this run calls for: none before the automated gate has judged it (an error run has only
    its report), the runbooks and the PDF only for a certified model."""
    if not status.get("gate"):
        return []
    values = context(folder, status, previous)
    certified = values["certificate"] is not None
    paths = []
    for name in MARKDOWN if certified else MARKDOWN[:1]:
        text = ENV.get_template(name).render(**values)
        page = _markdown_to_html(text)
        title = text.splitlines()[0].lstrip("# ")
        (folder / name).write_text(text, encoding="utf-8")
        html = folder / name.replace(".md", ".html")
        html.write_text(ENV.get_template("markdown.html").render(title=title, body=page), encoding="utf-8")
        paths += [folder / name, html]
    for name in ("data-dictionary.html", "risk-summary.html"):
        (folder / name).write_text(ENV.get_template(name).render(**values), encoding="utf-8")
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
