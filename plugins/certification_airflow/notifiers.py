"""Alerts through Airflow notifiers: a JSON webhook, and e-mail through the SMTP provider's notifier."""

from __future__ import annotations

import json
import logging
import urllib.request
from typing import Any

from airflow.sdk import BaseNotifier


class WebhookNotifier(BaseNotifier):
    """POST the alert as JSON; any answer but 2xx raises."""

    template_fields = ("url", "payload")

    def __init__(self, url: str, payload: dict[str, Any]) -> None:
        super().__init__()
        self.url, self.payload = url, payload

    def notify(self, context: Any) -> None:
        request = urllib.request.Request(
            self.url,
            data=json.dumps(self.payload, default=str).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=15) as response:
            if not 200 <= response.status < 300:
                raise RuntimeError(f"webhook {self.url} answered {response.status}")


def notifiers(notify: dict[str, Any], messages: list[str], outcome: dict[str, Any]) -> list[BaseNotifier]:
    """The notifiers the spec's `monitoring.notify` asks for, carrying these alert messages."""
    found: list[BaseNotifier] = []
    payload = {
        "alerts": messages,
        **{k: outcome.get(k) for k in ("model_name", "certificate_id", "window_id", "status", "breaches")},
    }
    if notify.get("webhook"):
        found.append(WebhookNotifier(notify["webhook"], payload))
    if notify.get("email"):
        from airflow.providers.smtp.notifications.smtp import SmtpNotifier

        found.append(
            SmtpNotifier(
                to=notify["email"],
                subject=f"[certification] {outcome.get('model_name')}: {messages[0][:120]}",
                html_content="<br>".join(messages),
            )
        )
    return found


def send_alerts(certification: Any, outcome: dict[str, Any], context: Any) -> list[str]:
    """Send what is new about a monitoring outcome. Best effort: a failed notifier is logged and recorded in the
    ledger, and does not hold back the withdrawal that follows."""
    from certification import postmarket

    messages = postmarket.alerts(certification, outcome)
    for notifier in notifiers(outcome.get("notify", {}), messages, outcome) if messages else []:
        try:
            notifier.notify(context)
        except Exception as exc:
            logging.getLogger(__name__).exception("notifier %s failed", type(notifier).__name__)
            certification.ledger.log(
                outcome["run_id"],
                "notification_failed",
                {"notifier": type(notifier).__name__, "error": str(exc)},
            )
    return messages
