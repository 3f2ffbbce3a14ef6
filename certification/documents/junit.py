"""The run's checks as JUnit XML (`certify run --junit`), so a deployment pipeline can block on them with its usual
test-report step."""

from __future__ import annotations

from typing import Any


def junit_xml(status: dict[str, Any]) -> str:
    """The run's checks as JUnit XML, so a deployment pipeline can block on them: one test suite per stage, one
    test case per check; fail is a failure, error an error, not_applicable skipped, warn a pass with its message."""
    from xml.etree import ElementTree as ET

    run = status["run"]
    root = ET.Element("testsuites", name=f"certification {run['run_id']}")
    stages: dict[str, ET.Element] = {}
    for result in status["results"]:
        suite = stages.get(result["stage"])
        if suite is None:
            suite = stages[result["stage"]] = ET.SubElement(root, "testsuite", name=result["stage"])
        case = ET.SubElement(
            suite, "testcase", classname=f"{run['use_case']}.{result['stage']}", name=result["check_id"]
        )
        kind = {"fail": "failure", "error": "error", "not_applicable": "skipped"}.get(result["status"])
        if kind:
            ET.SubElement(case, kind, message=result["message"][:1000]).text = result["message"]
        else:
            ET.SubElement(case, "system-out").text = f"{result['status']}: {result['message']}"
    for element in (root, *stages.values()):
        cases = element.iter("testcase")
        counts = {k: 0 for k in ("tests", "failures", "errors", "skipped")}
        for case in cases:
            counts["tests"] += 1
            for kind, key in (("failure", "failures"), ("error", "errors"), ("skipped", "skipped")):
                counts[key] += case.find(kind) is not None
        element.attrib.update({k: str(v) for k, v in counts.items()})
    for suite in stages.values():  # where JUnit readers look for run-level facts
        facts = ET.SubElement(suite, "properties")
        for name, value in (
            ("run_id", run["run_id"]),
            ("verdict", status["status"]),
            ("spec_sha256", run["spec_sha256"]),
        ):
            ET.SubElement(facts, "property", name=name, value=str(value))
    return ET.tostring(root, encoding="unicode", xml_declaration=True)
