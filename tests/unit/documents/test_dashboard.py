"""The certification dashboard: what it shows comes from the ledger; the Airflow plugin serving it refuses anonymous
requests and serves only a known run's documents."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from certification import Pipeline
from certification.documents import dashboard
from certification.ledger import certificates
from tests.helpers import REPO


def test_certificate_states_follow_withdrawals_then_the_validity_period() -> None:
    now, soon = "2027-01-01T00:00:00Z", "2027-01-31T00:00:00Z"
    assert certificates.state("2027-06-01", set(), now, soon) == "valid"
    assert certificates.state("2027-01-15", set(), now, soon) == "expiring"
    assert certificates.state("2026-12-31", set(), now, soon) == "expired"
    assert (
        certificates.state("2027-06-01", {"suspended", "recertification_requested"}, now, soon) == "suspended"
    )
    assert certificates.state("2027-06-01", {"suspended", "revoked"}, now, soon) == "revoked"


def test_dashboard_shows_pending_roles_and_certificates(
    home: Path, write_spec, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CERTIFICATION_RESPONSIBILITIES", str(REPO / "config" / "responsibilities.yaml"))
    pipeline = Pipeline()
    run_id = pipeline.run_automated(str(write_spec()), submitted_by="dana")["run"]["run_id"]
    pipeline.signoff(run_id, role="risk", approver="alice", decision="approve", comment="ok", channel="cli")

    data = dashboard.overview(pipeline)
    [run] = data["runs"]
    assert run["state"] == "awaiting_signoff" and set(run["signoffs"]) == {"risk"}
    [waiting] = data["pending"]
    assert (waiting["role"], waiting["approvers"]) == ("compliance", ["bob", "carl"]) and waiting["deadline"]
    assert data["certificates"] == []
    page = dashboard.render(data)
    assert f"runs/{run_id}/report.html" in page and "bob, carl" in page

    pipeline.signoff(
        run_id, role="compliance", approver="bob", decision="approve", comment="ok", channel="cli"
    )
    pipeline.finalize(run_id, signoff_closed=False)
    later = dashboard.overview(pipeline, now=datetime(2100, 1, 1, tzinfo=UTC))
    [certificate] = later["certificates"]
    assert (later["runs"][0]["state"], later["pending"], certificate["state"]) == ("certified", [], "expired")
    assert (
        certificate["run_id"] == run_id
        and dashboard.overview(pipeline)["certificates"][0]["state"] == "valid"
    )


def test_the_plugin_refuses_anonymous_requests_and_serves_only_run_documents(
    home: Path, write_spec, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from airflow.api_fastapi.core_api.security import get_user
    from fastapi.testclient import TestClient

    monkeypatch.syspath_prepend(str(REPO / "plugins"))
    from certification_airflow import dashboard as plugin

    run_id = Pipeline().run_automated(str(write_spec()), submitted_by="dana")["run"]["run_id"]
    client = TestClient(plugin.app)
    assert client.get("/").status_code == 401
    assert client.get(f"/runs/{run_id}/report.html").status_code == 401

    plugin.app.dependency_overrides[get_user] = lambda: SimpleAuthManagerUser(username="alice", role="viewer")
    try:
        page = client.get("/")
        assert page.status_code == 200 and run_id in page.text and "Sign-offs waiting" in page.text
        report = client.get(f"/runs/{run_id}/report.html")
        assert report.status_code == 200 and run_id in report.text
        assert client.get(f"/runs/{run_id}/spec.json").status_code == 404  # not a document
        assert client.get("/runs/no-such-run/report.html").status_code == 404
        assert client.get("/runs/../report.html").status_code == 404
    finally:
        plugin.app.dependency_overrides.clear()
    assert plugin.CertificationDashboard.fastapi_apps[0]["url_prefix"] == "/certification"
