"""The certification run, stage by stage: start (bind the spec, model and data by their hashes), the automated
stages, the gate, the sign-offs, and the decision (certificate, registry alias, documents, evidence bundle, watch
list). The CLI and the Airflow tasks call exactly these methods."""

from __future__ import annotations

import contextlib
import json
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from certification import documents, monitoring, tracking
from certification.checks import STAGES, CheckResult, Status, blocks
from certification.checks.registry import checks_for
from certification.documents import bundle
from certification.errors import CertificationError, NotAuthorised, SignoffRefused
from certification.governance import findings, responsibilities, signing
from certification.jsonutil import iso, utcnow
from certification.ledger import Duplicate, certificates
from certification.models import served_identity
from certification.run.context import RunContext
from certification.run.inputs import data_digest
from certification.run.records import Runs, result_row
from certification.spec import Spec, load_spec, requirements

DECISIONS = ("approve", "reject")
BUNDLE_EVENT = "evidence_bundle"


def new_run_id() -> str:
    return f"cert-{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


class Pipeline(Runs):
    """A certification run, stage by stage. The CLI and the Airflow tasks call exactly these methods; each is
    idempotent, so a retried task finds what it already recorded."""

    # -- start ---------------------------------------------------------------------------------------------
    def start(
        self,
        spec_path: str,
        overrides: dict[str, Any] | None = None,
        *,
        submitted_by: str,
        origin: str = "cli",
        run_id: str | None = None,
        airflow_run: str | None = None,
    ) -> tuple[str, RunContext | None]:
        """Validate the spec, bind the run to model/data/spec hashes and open its MLflow run.

        Bad input is recorded as an `error` run before the exception propagates; a retry with the same run id
        returns the existing run.
        """
        run_id = run_id or new_run_id()
        overrides = {k: v for k, v in (overrides or {}).items() if v not in (None, "")}
        if self.ledger.run(run_id):
            return run_id, None
        base = {
            "run_id": run_id,
            "created_at": utcnow(),
            "origin": origin,
            "submitted_by": submitted_by,
            "spec_source": str(spec_path),
            "overrides_json": overrides,
            "airflow_run": airflow_run,
        }
        try:
            matrix = responsibilities.load()
            if matrix and not matrix.may_submit(submitted_by):
                raise NotAuthorised(f"{submitted_by} may not submit certification runs ({matrix.source})")
            spec = load_spec(spec_path, overrides)
            ctx = RunContext.open(spec, self.settings.run_dir(run_id))
            mlflow_run_id = tracking.start_run(
                self.settings,
                run_id,
                {
                    "certification.use_case": spec.use_case,
                    "certification.model": ctx.model.reference,
                    "certification.model_flavour": ctx.model.flavour,
                },
            )
        except CertificationError as exc:
            self._record_error_run(base, exc)
            raise
        row = {
            **base,
            "use_case": spec.use_case,
            "risk_tier": spec.risk_tier,
            "spec_sha256": spec.digest(),
            "spec_json": spec.model_dump(mode="json"),
            "model_reference": ctx.model.reference,
            "model_sha256": ctx.model.sha256,
            "datasets_json": ctx.datasets,
            "required_roles_json": spec.approvals.roles,
            "mlflow_run_id": mlflow_run_id,
            "signoff_deadline": None,
        }
        try:
            self.ledger.record("runs", row)
        except Duplicate:
            return run_id, None
        spec_file = self.settings.run_dir(run_id) / "spec.json"
        spec_file.write_text(json.dumps(row["spec_json"], indent=2))
        datasets_file = self.settings.run_dir(run_id) / "datasets.json"
        datasets_file.write_text(json.dumps(ctx.datasets, indent=2))
        tracking.log_datasets(self.settings, mlflow_run_id, ctx.datasets)
        tracking.log_artifacts(
            self.settings,
            mlflow_run_id,
            [spec_file, datasets_file],
            "inputs",
            {
                "certification.spec_sha256": str(row["spec_sha256"]),
                "certification.model_sha256": ctx.model.sha256,
                "certification.data_sha256": data_digest(ctx.datasets),
            },
        )
        return run_id, ctx

    def _record_error_run(self, base: dict[str, Any], exc: Exception) -> None:
        with self.ledger.write() as writer:
            with contextlib.suppress(Duplicate):  # a retry of a start that failed after recording the run
                writer.insert("runs", base)
            writer.insert(
                "decisions",
                {
                    "run_id": base["run_id"],
                    "kind": "final",
                    "verdict": "error",
                    "reasons_json": [str(exc)],
                    "decided_by": "pipeline",
                    "decided_at": utcnow(),
                },
            )

    # -- stages --------------------------------------------------------------------------------------------
    def run_stage(self, run_id: str, stage: str, ctx: RunContext | None = None) -> list[CheckResult]:
        if stage not in STAGES:
            raise CertificationError(f"unknown stage {stage!r}; stages are {STAGES}")
        done = [r for r in self.results(run_id) if r.stage == stage]
        if done or self.decision(run_id, "final"):
            return done
        checks = checks_for(stage, Spec.model_validate(self.run_row(run_id)["spec_json"]).task)
        try:
            ctx = ctx or self.open_context(run_id)
            ctx.begin_stage(stage)
            results = [item.run(ctx) for item in checks]
        except CertificationError as exc:
            results = [
                CheckResult(
                    item.check_id, stage, Status.ERROR, message=str(exc), requirements=list(item.requirements)
                )
                for item in checks
            ]
        try:
            with self.ledger.write() as writer:
                for result in results:
                    writer.insert(
                        "check_results", {**result_row(result), "run_id": run_id, "recorded_at": utcnow()}
                    )
        except Duplicate:  # a concurrent retry of this stage won; its results stand
            return [r for r in self.results(run_id) if r.stage == stage]
        stage_file = self.settings.run_dir(run_id) / f"{stage}.json"
        recorded = [r.to_dict() for r in results]
        stage_file.write_text(json.dumps(recorded, indent=2, default=str))
        tracking.log_stage(self.settings, self.run_row(run_id)["mlflow_run_id"], stage, recorded, stage_file)
        return results

    # -- gate ----------------------------------------------------------------------------------------------
    def gate(self, run_id: str) -> dict[str, Any]:
        existing = self.decision(run_id, "gate")
        if existing:
            return existing
        run = self.run_row(run_id)
        results = {r.check_id: r for r in self.results(run_id)}
        spec = Spec.model_validate(run["spec_json"])
        expected = [item.check_id for stage in STAGES for item in checks_for(stage, spec.task)]
        reasons = [f"{cid}: produced no result" for cid in expected if cid not in results]
        reasons += [
            f"{r.check_id}: {r.status.value}: {r.message}"
            for r in results.values()
            if blocks(r, spec.checks.not_applicable_blocks)
        ]
        reasons += requirements.blocking_gaps(
            spec, requirements.matrix(spec, [r.to_dict() for r in results.values()])
        )
        reasons += self._still_the_same_model(run, spec)
        verdict = "failed" if reasons else "passed"
        row = {
            "run_id": run_id,
            "kind": "gate",
            "verdict": verdict,
            "reasons_json": reasons or ["every check passed its threshold"],
            "decided_by": "automated-gate",
            "decided_at": utcnow(),
        }
        try:
            with self.ledger.write() as writer:
                writer.insert("decisions", row)
                if verdict == "passed":
                    deadline = datetime.now(UTC) + timedelta(hours=spec.approvals.deadline_hours)
                    writer.event(
                        run_id,
                        "signoff_requested",
                        {"roles": spec.approvals.roles, "deadline": iso(deadline)},
                    )
        except Duplicate:
            return self.decision(run_id, "gate") or row
        tracking.log_artifacts(self.settings, run["mlflow_run_id"], [], "", {"certification.gate": verdict})
        if verdict == "passed":  # the approvers read the report and risk summary; rewritten at the decision
            self.write_documents(self.status(run_id))
        return self.decision(run_id, "gate") or row

    @staticmethod
    def _still_the_same_model(run: dict[str, Any], spec: Spec) -> list[str]:
        """A served model can change behind its URL while the run works; ask its identity again before judging.
        (Files and registry versions are re-hashed whenever a stage re-opens the run's inputs.)"""
        if spec.model.endpoint is None:
            return []
        try:
            now = served_identity(spec)
        except CertificationError as exc:
            return [f"model: its identity could not be checked again at the end of the run: {exc}"]
        if now != run["model_sha256"]:
            return [
                f"model: the model behind {run['model_reference']} changed during the run (identity "
                f"{run['model_sha256'][:12]}… at the start, {now[:12]}… at the end)"
            ]
        return []

    # -- sign-off ------------------------------------------------------------------------------------------
    def signoff(
        self, run_id: str, *, role: str, approver: str, decision: str, comment: str, channel: str
    ) -> dict[str, Any]:
        """Record one role's decision, bound to the run's hashes, after enforcing the four-eyes rules."""
        run = self.run_row(run_id)
        gate = self.decision(run_id, "gate")
        state = self.signoff_state(run_id)
        refusal = None
        if decision not in DECISIONS:
            refusal = f"decision must be one of {DECISIONS}"
        elif gate is None or gate["verdict"] != "passed":
            refusal = "the run is not awaiting sign-off (the automated gate has not passed)"
        elif self.decision(run_id, "final"):
            refusal = "the run is already decided"
        elif role not in state.required:
            refusal = f"role {role!r} is not required for this run; required: {state.required}"
        elif (matrix := responsibilities.load()) and not matrix.may_approve(role, approver):
            refusal = (
                f"{approver} may not approve for {role} under the responsibility matrix ({matrix.source})"
            )
        elif approver.strip().lower() == str(run["submitted_by"]).strip().lower():
            refusal = f"{approver} submitted this run and cannot sign it off"
        elif approver in {**state.approved, **state.rejected}.values():
            refusal = f"{approver} has already signed this run for another role"
        elif state.expired:
            refusal = f"the sign-off deadline {state.deadline} has passed"
        elif decision == "approve" and (blocked := findings.blocking(self.ledger, run_id)):
            refusal = f"resolve or waive the blocking findings first: {'; '.join(map(str, blocked))}"
        elif not comment.strip():
            refusal = "a comment is required"
        if refusal is None:
            row = {
                "run_id": run_id,
                "role": role,
                "approver": approver,
                "decision": decision,
                "comment": comment,
                "channel": channel,
                "model_sha256": run["model_sha256"],
                "data_sha256": data_digest(run["datasets_json"]),
                "spec_sha256": run["spec_sha256"],
                "signed_at": utcnow(),
            }
            try:
                return self.ledger.record("signoffs", row)
            except Duplicate:
                refusal = f"role {role!r} has already been signed, or {approver} already signed another role"
        self.ledger.log(
            run_id,
            "signoff_refused",
            {"role": role, "approver": approver, "decision": decision, "channel": channel, "reason": refusal},
        )
        raise SignoffRefused(refusal)

    # -- final decision --------------------------------------------------------------------------------------
    def finalize(self, run_id: str, *, signoff_closed: bool = True) -> dict[str, Any]:
        """Issue the certificate or record the rejection. Idempotent; re-asserts the registry alias on retry."""
        final = self.decision(run_id, "final") or self._decide(run_id, signoff_closed)
        if final is None:
            return {}
        self._publish(run_id, final["verdict"])
        if final["verdict"] == "certified":
            self._promote(run_id)
            monitoring.watch(self, run_id)
        replaced = certificates.predecessor(self.ledger, run_id)
        if replaced:  # the replaced certificate's page shows how its re-certification ended
            monitoring.publish(self, replaced)
        return final

    def _publish(self, run_id: str, verdict: str) -> None:
        """Write the documents and the evidence bundle and close the MLflow run; repeated until it has succeeded
        once (the bundle's ledger event, written last, marks it done)."""
        if any(e["event_type"] == BUNDLE_EVENT for e in self.ledger.events(run_id)):
            return
        folder = self.settings.run_dir(run_id)
        run = self.run_row(run_id)
        status = self.status(run_id)
        paths = self.write_documents(status)
        if status["certificate"]:
            signed = signing.sign(
                status["certificate"]["document_json"], signing.private_key(self.settings.home)
            )
            (folder / signing.SIGNATURE_FILE).write_text(json.dumps(signed, indent=2))
            paths.append(folder / signing.SIGNATURE_FILE)
            public = {
                k: signed[k] for k in ("certificate_id", "algorithm", "signed_sha256", "key_fingerprint")
            }
            self.ledger.log(run_id, "certificate_signed", {**public, "signature": signed["signature"]})
        archive, recorded = bundle.write(folder, run_id)
        if run["mlflow_run_id"]:
            tracking.log_artifacts(self.settings, run["mlflow_run_id"], paths, "certificate")
            tracking.log_artifacts(self.settings, run["mlflow_run_id"], [archive], "bundle")
            tracking.finish(self.settings, run["mlflow_run_id"], verdict)
        self.ledger.log(run_id, BUNDLE_EVENT, recorded)

    def _decide(self, run_id: str, signoff_closed: bool) -> dict[str, Any] | None:
        run = self.run_row(run_id)
        gate = self.decision(run_id, "gate")
        state = self.signoff_state(run_id)
        certificate = None
        if gate is None:
            verdict, reasons = "error", ["the automated gate never ran"]
        elif gate["verdict"] != "passed":
            verdict, reasons = "rejected", gate["reasons_json"]
        elif state.outcome == "approved" and (blocked := findings.blocking(self.ledger, run_id)):
            verdict, reasons = "rejected", [f"blocking finding still open: {f}" for f in blocked]
        elif state.outcome == "approved":
            verdict, reasons = (
                "certified",
                [f"{role} approved by {who}" for role, who in state.approved.items()],
            )
        elif state.outcome == "rejected":
            verdict, reasons = (
                "rejected",
                [f"{role} rejected by {who}" for role, who in state.rejected.items()],
            )
        elif state.outcome == "expired":
            verdict, reasons = (
                "rejected",
                [f"sign-off deadline {state.deadline} passed; pending: {state.pending}"],
            )
        elif signoff_closed:
            verdict, reasons = "error", [f"sign-off ended without a decision from {state.pending}"]
        else:
            return None
        decided = {
            "run_id": run_id,
            "kind": "final",
            "verdict": verdict,
            "reasons_json": reasons,
            "decided_by": "pipeline",
            "decided_at": utcnow(),
        }
        if verdict == "certified":
            spec = Spec.model_validate(run["spec_json"])
            certificate = documents.certificate_document(
                run,
                self.results(run_id),
                self.ledger.rows("signoffs", run_id),
                spec.approvals.certificate_validity_days,
            )
        try:
            with self.ledger.write() as writer:
                if certificate is not None:
                    writer.insert(
                        "certificates",
                        {
                            "certificate_id": certificate["certificate_id"],
                            "run_id": run_id,
                            "issued_at": certificate["issued_at"],
                            "expires_at": certificate["expires_at"],
                            "sha256": documents.document_sha256(certificate),
                            "document_json": certificate,
                        },
                    )
                writer.insert("decisions", decided)
        except Duplicate:
            pass  # a concurrent finalize won; its decision stands
        return self.decision(run_id, "final")

    def _promote(self, run_id: str) -> None:
        run = self.run_row(run_id)
        reference = str(run["model_reference"])
        if not reference.startswith("models:/"):
            return  # a local file has no registry entry to alias
        name, version, _ = tracking.parse_uri(reference)
        certificate = self.ledger.rows("certificates", run_id)[0]
        try:
            tracking.promote(
                self.settings,
                name,
                str(version),
                {
                    "certification.certificate_id": certificate["certificate_id"],
                    "certification.certificate_sha256": certificate["sha256"],
                    "certification.run_id": run_id,
                    "certification.expires_at": certificate["expires_at"],
                },
            )
        except CertificationError as exc:
            self.ledger.log(run_id, "registry_update_failed", {"error": str(exc)})
            raise
        self.ledger.log(
            run_id,
            "registry_alias_set",
            {"model": name, "version": version, "alias": tracking.CERTIFIED_ALIAS},
        )

    # -- the automated part in one call (the CLI) --------------------------------------------------------------
    def run_automated(
        self, spec_path: str, overrides: dict[str, Any] | None = None, *, submitted_by: str
    ) -> dict[str, Any]:
        run_id, ctx = self.start(spec_path, overrides, submitted_by=submitted_by, origin="cli")
        for stage in STAGES:
            self.run_stage(run_id, stage, ctx)
        if self.gate(run_id)["verdict"] != "passed":
            self.finalize(run_id)
        return self.status(run_id)
