"""The certification dashboard in the Airflow UI: a FastAPI app mounted by the API server at /certification and a
"Certification" entry in its navigation. Every request needs an authenticated Airflow user (the UI's session cookie
or an API token); the page and the documents come from the ledger and the run folders, nothing is decided here."""

from __future__ import annotations

from pathlib import Path

from airflow.api_fastapi.core_api.security import GetUserDep
from airflow.plugins_manager import AirflowPlugin
from fastapi import FastAPI, HTTPException
from fastapi.responses import FileResponse, HTMLResponse

from certification_airflow.hooks.ledger import pipeline

app = FastAPI(title="Certification dashboard", docs_url=None, redoc_url=None)


@app.get("/", response_class=HTMLResponse)
def index(user: GetUserDep) -> str:
    from certification.documents import dashboard

    return dashboard.render(dashboard.overview(pipeline()))


@app.get("/runs/{run_id}/{name}")
def document(run_id: str, name: str, user: GetUserDep) -> FileResponse:
    """One of a run's documents (only those names, only of runs the ledger knows: no other file is reachable)."""
    from certification.documents import DOCUMENTS

    certification = pipeline()
    path: Path = certification.settings.run_dir(run_id) / name
    if name not in DOCUMENTS or certification.ledger.run(run_id) is None or not path.is_file():
        raise HTTPException(status_code=404, detail=f"{run_id} has no document {name}")
    return FileResponse(path)


class CertificationDashboard(AirflowPlugin):
    name = "certification_dashboard"
    fastapi_apps = [{"app": app, "url_prefix": "/certification", "name": "Certification dashboard"}]
    external_views = [
        {
            "name": "Certification",
            "href": "certification/",
            "destination": "nav",
            "url_route": "certification",
            "category": "browse",
        }
    ]
