"""Sign-off through the real Airflow UI: Selenium drives Debian's headless chromium (via chromium-driver) against a
local `airflow standalone`; each approver logs in, opens their role's Required Action, writes a comment and clicks
Approve. The DAG run then finishes and the ledger holds both sign-offs under the approvers' Airflow identities.

In CI (CI=true) chromium and chromedriver are required: the test fails rather than skips without them.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from selenium import webdriver
from selenium.common.exceptions import (
    ElementClickInterceptedException,
    ElementNotInteractableException,
    NoSuchElementException,
    StaleElementReferenceException,
)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from certification import Pipeline
from certification import demo as demo_inputs
from certification.config import settings
from certification.demo import stack as demo
from tests.helpers import REPO, quick


def _browser_binaries() -> tuple[str, str]:
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        message = "chromium and chromedriver are needed (`make system-deps`: apt-get install chromium chromium-driver)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return chromium, driver


def _small_spec(path: Path) -> Path:
    """The demo spec on the tests' budget (`quick`): same checks, a fraction of the work."""
    spec = quick(yaml.safe_load(path.read_text()))
    spec["checks"]["fairness"].update(bootstrap_resamples=200)  # runs beside robustness on 2 cores
    small = path.with_name("adult-small.yaml")  # next to the demo's: relative dataset paths still resolve
    small.write_text(yaml.safe_dump(spec, sort_keys=False))
    return small


@contextmanager
def _chromium(chromium: str, driver: str) -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    # Root in a container has no usable sandbox; a tall window shows the whole Required Action in screenshots.
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,2600"):
        options.add_argument(argument)
    browser = webdriver.Chrome(service=Service(driver), options=options)
    try:
        yield browser
    finally:
        browser.quit()


def _act(wait: WebDriverWait, xpath: str, action: Callable[[WebElement], object]) -> None:
    """Find the element afresh on every try: the React UI re-renders as it polls, which stales held references."""
    wait.until(lambda browser: action(browser.find_element(By.XPATH, xpath)) is not False)


def _click_when_enabled(element: WebElement) -> bool:
    if not element.is_enabled():
        return False
    element.click()  # a stale element raises before clicking, so a retry never answers twice
    return True


# Each of these means the action did not happen yet (not rendered, re-rendered, covered): try again.
RETRY = [
    NoSuchElementException,
    StaleElementReferenceException,
    ElementClickInterceptedException,
    ElementNotInteractableException,
]


def _log_in(browser: WebDriver, base: str, user: str, password: str) -> WebDriverWait:
    wait = WebDriverWait(browser, 60, ignored_exceptions=RETRY)
    browser.get(f"{base}/auth/login")
    _act(wait, "//input[@name='username']", lambda e: e.send_keys(user))
    _act(wait, "//input[@name='password']", lambda e: e.send_keys(password))
    _act(wait, "//button[normalize-space()='Sign in']", lambda e: e.click())
    return wait


def _sign_off_in_ui(browser: WebDriver, base: str, user: str, password: str, role: str, shots: Path) -> str:
    wait = _log_in(browser, base, user, password)
    # Browse → Required Actions, as a person would navigate.
    _act(wait, "//button[@aria-label='Browse']", lambda e: e.click())
    _act(wait, "//*[@role='menuitem'][normalize-space()='Required Actions']", lambda e: e.click())
    # The list truncates subjects visually; the full subject is in the title attribute.
    subject = f"sign off as {role}"
    _act(wait, f"//a[.//*[contains(@title, '{subject}')]][contains(@href, '/mapped/')]", lambda e: e.click())
    comment = f"{role} review by {user} in the Airflow UI"
    field = "//input[@name='element_comment']"
    _act(wait, field, lambda e: e.send_keys(comment))
    _act(wait, field, lambda e: e.get_attribute("value") == comment)
    # Scrolled so that the screenshot shows which role's action this is, above the filled-in form.
    scroll = "arguments[0].scrollIntoView({block: 'start'})"
    _act(wait, f"//*[contains(text(), '{subject}')]", lambda e: browser.execute_script(scroll, e))
    browser.save_screenshot(str(shots / f"required-action-{role}.png"))
    # The option buttons stay disabled until the required comment is filled in.
    _act(wait, "//button[normalize-space()='Approve']", _click_when_enabled)
    _act(wait, "//*[contains(text(), 'response successful')]", lambda e: e.is_displayed())
    browser.save_screenshot(str(shots / f"required-action-{role}-approved.png"))
    return comment


def test_approvers_sign_off_in_the_airflow_ui(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chromium, driver = _browser_binaries()
    monkeypatch.setenv("CERTIFICATION_RESPONSIBILITIES", str(REPO / "config" / "responsibilities.yaml"))
    port = demo.free_port()
    env = demo.environment(home, port)
    base, dag = f"http://127.0.0.1:{port}", f"/api/v2/dags/{demo.DAG_ID}"
    airflow = demo.start_airflow(home, env)  # boots while the model trains
    try:
        spec = _small_spec(demo_inputs.prepare(settings()))
        api = demo.Api(base)
        demo.wait_for("the Airflow API server", lambda: api.call("GET", "/api/v2/monitor/health"), 240)
        passwords = json.loads(
            (home / "airflow" / "simple_auth_manager_passwords.json.generated").read_text()
        )
        api.login(passwords)
        demo.wait_for("the DAG to be parsed", lambda: api.call("GET", dag, "admin"), 180)
        api.call("PATCH", dag, "admin", {"is_paused": False})
        plugins = {p["name"]: p for p in api.call("GET", "/api/v2/plugins", "admin")["plugins"]}
        assert plugins["certification_dashboard"]["external_views"][0]["href"] == "certification/"
        run = api.call(
            "POST", f"{dag}/dagRuns", demo.SUBMITTER, {"logical_date": None, "conf": {"spec_path": str(spec)}}
        )
        runs = f"{dag}/dagRuns/{run['dag_run_id']}"

        def answerable(role: str) -> dict[str, Any] | None:
            for detail in api.call("GET", f"{runs}/hitlDetails", "admin")["hitl_details"]:
                if (
                    detail["subject"].endswith(f"sign off as {role}")
                    and detail["task_instance"]["state"] == "deferred"
                ):
                    # The demo's reading pause: an answer right after the deferral races Airflow's bookkeeping.
                    age = time.time() - datetime.fromisoformat(detail["created_at"]).timestamp()
                    return detail if age >= demo.READING_SECONDS else None
            state = api.call("GET", runs, "admin")["state"]
            assert state in {"queued", "running"}, (
                f"the DAG run ended {state} before asking for the {role} sign-off"
            )
            return None

        comments = {}
        for role, user in demo.APPROVERS.items():
            demo.wait_for(f"the {role} Required Action", lambda role=role: answerable(role), 600, interval=3)
            with _chromium(chromium, driver) as browser:
                comments[role] = _sign_off_in_ui(browser, base, user, passwords[user], role, tmp_path)
            answered = next(
                d
                for d in api.call("GET", f"{runs}/hitlDetails", "admin")["hitl_details"]
                if d["subject"].endswith(f"sign off as {role}")
            )
            assert answered["response_received"] and answered["chosen_options"] == ["Approve"]
            assert answered["responded_by_user"]["name"] == user  # the browser's login, not a service account

        state = demo.wait_for(
            "the DAG run to finish",
            lambda: (s := api.call("GET", runs, "admin")["state"]) in {"success", "failed"} and s,
            300,
            interval=3,
        )
        # The certification dashboard (our plugin, behind the same login) shows the new certificate as valid.
        with _chromium(chromium, driver) as browser:
            assert state == "success", (home / "airflow" / "standalone.log").read_text()[-4000:]
            wait = _log_in(browser, base, "admin", passwords["admin"])
            _act(wait, "//button[@aria-label='Browse']", lambda e: e.click())  # the SPA has loaded: logged in
            browser.get(f"{base}/certification/")
            _act(
                wait, "//tr[td//*[normalize-space()='valid']][.//a[normalize-space()='PDF']]", lambda e: True
            )
            browser.save_screenshot(str(tmp_path / "dashboard.png"))
    finally:
        demo.stop_airflow(airflow)

    assert state == "success", (home / "airflow" / "standalone.log").read_text()[-4000:]
    monkeypatch.syspath_prepend(str(REPO / "plugins"))
    from certification.run.records import airflow_run_id

    pipeline = Pipeline()
    status = pipeline.status(airflow_run_id(demo.DAG_ID, run["dag_run_id"]))
    assert status["status"] == "certified", status["final"]
    assert status["run"]["submitted_by"] == demo.SUBMITTER
    signoffs = {
        s["role"]: (s["approver"], s["decision"], s["channel"], s["comment"]) for s in status["signoffs"]
    }
    assert signoffs == {
        role: (user, "approve", "airflow", comments[role]) for role, user in demo.APPROVERS.items()
    }
    assert pipeline.ledger.verify().ok
