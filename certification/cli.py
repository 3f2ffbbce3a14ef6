"""`certify`: run the automated stages, sign off, inspect and verify. Exit codes: 0 passed, 1 not certified,
2 bad input or error."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from certification.config import settings
from certification.errors import CertificationError, InputError, SignoffRefused
from certification.governance.findings import SEVERITIES

OK, NOT_CERTIFIED, ERROR = 0, 1, 2
PASSING = {"certified", "awaiting_signoff"}


def _pipeline(args: argparse.Namespace) -> Any:
    from certification.run.pipeline import Pipeline

    return Pipeline(args.ledger_url)


def _print(data: Any, as_json: bool, lines: list[str]) -> None:
    print(json.dumps(data, indent=2, default=str) if as_json else "\n".join(lines))


def _exit_for(status: str) -> int:
    return OK if status in PASSING else (ERROR if status == "error" else NOT_CERTIFIED)


def cmd_run(args: argparse.Namespace) -> int:
    overrides = {
        "model_uri": args.model_uri,
        "model_path": args.model_path,
        "model_sha256": args.model_sha256,
        "train_path": args.train,
        "evaluation_path": args.evaluation,
    }
    status = _pipeline(args).run_automated(args.spec, overrides, submitted_by=args.submitted_by)
    run, gate = status["run"], status["gate"]
    lines = [f"run_id: {run['run_id']}", f"verdict: {status['status']}"]
    lines += [f"  {r['status']:>14}  {r['check_id']}: {r['message']}" for r in status["results"]]
    if gate and gate["verdict"] == "passed":
        lines.append(
            f"awaiting sign-off from: {', '.join(run['required_roles_json'])} "
            f"(certify signoff approve {run['run_id']} --role ROLE --approver NAME --comment TEXT)"
        )
    elif status["final"]:
        lines += [f"reason: {reason}" for reason in status["final"]["reasons_json"]]
    if args.junit:
        from certification.documents import junit_xml

        Path(args.junit).write_text(junit_xml(status), encoding="utf-8")
    _print(status, args.json, lines)
    return _exit_for(status["status"])


def cmd_signoff(args: argparse.Namespace) -> int:
    pipeline = _pipeline(args)
    pipeline.signoff(
        args.run_id,
        role=args.role,
        approver=args.approver,
        decision=args.decision,
        comment=args.comment,
        channel="cli",
    )
    run = pipeline.ledger.run(args.run_id)
    final = None
    if run and run["origin"] == "cli":  # Airflow runs are finalised by their DAG's own task
        final = pipeline.finalize(args.run_id, signoff_closed=False)
    status = pipeline.status(args.run_id)
    lines = [
        f"recorded: {args.role} {args.decision}d {args.run_id} ({args.approver})",
        f"status: {status['status']}",
    ]
    if final and status["certificate"]:
        lines.append(f"certificate: {status['documents'].get('certificate.json')}")
    _print(status, args.json, lines)
    return _exit_for(status["status"])


def cmd_status(args: argparse.Namespace) -> int:
    status = _pipeline(args).status(args.run_id)
    run = status["run"]
    lines = [
        f"run_id: {run['run_id']}",
        f"status: {status['status']}",
        f"use case: {run['use_case']}",
        f"model: {run['model_reference']} sha256={run['model_sha256']}",
    ]
    lines += [f"  {r['status']:>14}  {r['check_id']}" for r in status["results"]]
    lines += [
        f"  sign-off {s['role']}: {s['decision']} by {s['approver']} ({s['channel']})"
        for s in status["signoffs"]
    ]
    lines += [f"  {name}: {path}" for name, path in status["documents"].items()]
    _print(status, args.json, lines)
    return _exit_for(status["status"])


def cmd_verify(args: argparse.Namespace) -> int:
    report = _pipeline(args).ledger.verify()
    lines = [f"events: {report.events}", "ledger intact" if report.ok else "LEDGER TAMPERED"]
    lines += [f"  {problem}" for problem in report.problems]
    _print(
        {
            "ok": report.ok,
            "events": report.events,
            "first_broken_seq": report.first_broken_seq,
            "problems": report.problems,
        },
        args.json,
        lines,
    )
    return OK if report.ok else NOT_CERTIFIED


def cmd_registry_check(args: argparse.Namespace) -> int:
    from certification.governance.registry import as_dicts, check_aliases

    findings = check_aliases(_pipeline(args).ledger)
    lines = [f"{f.model} v{f.version} @certified: {f.problem}" for f in findings]
    _print(
        {"ok": not findings, "findings": as_dicts(findings)},
        args.json,
        lines or ["every certified alias is covered"],
    )
    return OK if not findings else NOT_CERTIFIED


def cmd_discover(args: argparse.Namespace) -> int:
    """What the certification_sweep DAG would do with a spec folder, without starting anything."""
    from certification.governance import discovery

    found = discovery.survey(_pipeline(args).ledger, Path(args.folder))
    _print(
        {"specs": [item.__dict__ for item in found]},
        args.json,
        [f"{item.spec_path}: {item.action} ({item.reason})" for item in found] or ["no specs"],
    )
    return OK


def cmd_monitor(args: argparse.Namespace) -> int:
    """One monitoring window without a scheduler: the same steps as the monitor DAG, except that re-certification
    is requested in the ledger and left to `certify run` (only Airflow can trigger the DAG)."""
    from certification import monitoring

    pipeline = _pipeline(args)
    end = datetime.fromisoformat(args.window_end) if args.window_end else datetime.now(UTC)
    outcome = monitoring.monitor(pipeline, args.model, end if end.tzinfo else end.replace(tzinfo=UTC))
    done = monitoring.withdraw(pipeline, outcome)
    request = monitoring.request_recertification(pipeline, outcome)
    if "run_id" in outcome:
        monitoring.publish(pipeline, outcome["run_id"])
    lines = [f"{outcome['window_id']}: {outcome['status']}", *(f"  {b}" for b in outcome.get("breaches", []))]
    lines += [f"  {outcome['summary']}"] if "summary" in outcome else []
    lines += [f"  done: {', '.join(done)}"] if done else []
    if request:
        lines.append(
            f"  re-certification requested ({request['reason'][:100]}): certify run {request['conf']['spec_path']}"
        )
    _print({**outcome, "done": done}, args.json, lines)
    return NOT_CERTIFIED if outcome.get("withdraw") or outcome["status"] == "no_active_certificate" else OK


def cmd_certificate_verify(args: argparse.Namespace) -> int:
    """What a relying party checks (governance.signing.verify_certificate)."""
    from certification.governance import signing

    pipeline = _pipeline(args)
    document, problems = signing.verify_certificate(
        pipeline.ledger,
        pipeline.settings.home,
        Path(args.certificate),
        Path(args.signature) if args.signature else None,
        args.public_key,
    )
    lines = [f"{document.get('certificate_id')}: {'valid' if not problems else 'NOT VALID'}"]
    _print({"valid": not problems, "problems": problems}, args.json, lines + [f"  {p}" for p in problems])
    return OK if not problems else NOT_CERTIFIED


def cmd_finding(args: argparse.Namespace) -> int:
    """Record a finding or settle one (resolve, waive), then list the run's findings; exit 1 while one blocks."""
    from certification.governance import findings

    pipeline = _pipeline(args)
    ledger, action = pipeline.ledger, args.finding_command
    if action == "add":
        findings.add(
            ledger, args.run_id, severity=args.severity, title=args.title, detail=args.detail, by=args.by
        )
    elif action == "resolve":
        findings.resolve(ledger, args.run_id, args.finding_id, by=args.by, comment=args.comment)
    elif action == "waive":
        findings.waive(ledger, args.run_id, args.finding_id, by=args.by, reason=args.reason, days=args.days)
    status = pipeline.status(args.run_id)
    found = status["findings"]
    lines = [
        f"{f['finding_id']}  {f['severity']:>8}  {f['state']:<14}{'  BLOCKING' if f['blocking'] else ''}  {f['title']}"
        for f in found
    ] or [f"no findings on {args.run_id}"]
    _print(found, args.json, lines)
    return NOT_CERTIFIED if any(f["blocking"] for f in found) else OK


def cmd_certificate_revoke(args: argparse.Namespace) -> int:
    from certification import monitoring

    done = monitoring.revoke(_pipeline(args), args.certificate_id, reason=args.reason, by=args.by)
    lines = [f"{args.certificate_id}: {', '.join(done) or 'already revoked'}"]
    _print({"certificate_id": args.certificate_id, "done": done}, args.json, lines)
    return OK


def cmd_ledger_init(args: argparse.Namespace) -> int:
    pipeline = _pipeline(args)
    pipeline.ledger.init_schema()
    print(f"ledger ready at {pipeline.ledger.safe_url}")
    return OK


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="certify", description=__doc__)
    root.add_argument(
        "--ledger-url", default=None, help="SQLAlchemy URL (default: $CERTIFICATION_LEDGER_URL)"
    )
    root.add_argument("--json", action="store_true", help="machine-readable output")
    commands = root.add_subparsers(dest="command", required=True)
    me = settings().user or getpass.getuser()

    run = commands.add_parser("run", help="run the automated stages and the gate in-process")
    run.add_argument("spec")
    run.add_argument("--model-uri"), run.add_argument("--model-path"), run.add_argument("--model-sha256")
    run.add_argument("--train"), run.add_argument("--evaluation")
    run.add_argument("--submitted-by", default=me)
    run.add_argument("--junit", metavar="FILE", help="also write the checks as JUnit XML (for CI gates)")
    run.set_defaults(handler=cmd_run)

    signoff = commands.add_parser("signoff", help="approve or reject a run for one role")
    signoff.add_argument("decision", choices=["approve", "reject"])
    signoff.add_argument("run_id")
    signoff.add_argument("--role", required=True)
    signoff.add_argument("--approver", required=True)
    signoff.add_argument("--comment", required=True)
    signoff.set_defaults(handler=cmd_signoff)

    status = commands.add_parser("status", help="show a run: results, decisions, sign-offs, documents")
    status.add_argument("run_id")
    status.set_defaults(handler=cmd_status)

    audit = commands.add_parser("audit", help="ledger integrity").add_subparsers(dest="audit", required=True)
    audit.add_parser(
        "verify", help="recompute the hash chain and compare every row with its event"
    ).set_defaults(handler=cmd_verify)

    registry = commands.add_parser("registry", help="change control over the MLflow registry")
    registry.add_subparsers(dest="registry", required=True).add_parser(
        "check", help="find `certified` aliases without a valid, unexpired, unsuspended certificate"
    ).set_defaults(handler=cmd_registry_check)

    certificate = commands.add_parser("certificate", help="certificates").add_subparsers(
        dest="certificate_command", required=True
    )
    verify = certificate.add_parser("verify", help="signature, validity, model bytes and ledger record")
    verify.add_argument("certificate", help="certificate.json")
    verify.add_argument("--signature", help="default: certificate.sig.json next to it")
    verify.add_argument(
        "--public-key", help="the issuer's Ed25519 public key (PEM); default: this installation's"
    )
    verify.set_defaults(handler=cmd_certificate_verify)

    revoke = certificate.add_parser(
        "revoke", help="withdraw a certificate by hand and take the registry alias off"
    )
    revoke.add_argument("certificate_id")
    revoke.add_argument("--reason", required=True)
    revoke.add_argument("--by", default=me)
    revoke.set_defaults(handler=cmd_certificate_revoke)

    discover = commands.add_parser(
        "discover", help="which specs in a folder are due for certification, and why"
    )
    discover.add_argument("folder")
    discover.set_defaults(handler=cmd_discover)

    monitor = commands.add_parser("monitor", help="judge one production window of a certified model")
    monitor.add_argument("model", help="the model's name in the inference log (its registry name by default)")
    monitor.add_argument("--window-end", help="ISO 8601; default: now")
    monitor.set_defaults(handler=cmd_monitor)

    finding = commands.add_parser("finding", help="independent review findings and their waivers")
    actions = finding.add_subparsers(dest="finding_command", required=True)
    by = argparse.ArgumentParser(add_help=False)
    by.add_argument("--by", default=me, help="who records it")
    add = actions.add_parser("add", parents=[by], help="record a red-team or independent-evaluator finding")
    add.add_argument("run_id")
    add.add_argument("--severity", required=True, choices=SEVERITIES)
    add.add_argument("--title", required=True)
    add.add_argument("--detail", default="")
    resolve = actions.add_parser("resolve", parents=[by], help="record that a finding was fixed")
    waive = actions.add_parser("waive", parents=[by], help="accept an open finding until the waiver expires")
    for settle in (resolve, waive):
        settle.add_argument("run_id"), settle.add_argument("finding_id")
    resolve.add_argument("--comment", required=True)
    waive.add_argument("--reason", required=True)
    waive.add_argument("--days", type=int, required=True, help="the waiver's validity (at most a year)")
    actions.add_parser("list", help="a run's findings and their states").add_argument("run_id")
    finding.set_defaults(handler=cmd_finding)

    ledger = commands.add_parser("ledger", help="ledger administration").add_subparsers(
        dest="ledger", required=True
    )
    ledger.add_parser("init", help="create the schema and its hardening").set_defaults(
        handler=cmd_ledger_init
    )
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except SignoffRefused as exc:
        print(f"certify: refused: {exc}", file=sys.stderr)
        return NOT_CERTIFIED
    except InputError as exc:
        print(f"certify: bad input: {exc}", file=sys.stderr)
        return ERROR
    except CertificationError as exc:
        print(f"certify: error: {exc}", file=sys.stderr)
        return ERROR


if __name__ == "__main__":
    sys.exit(main())
