"""Monitoring alerts through Airflow notifiers: the JSON webhook (webhook.py) and e-mail through the SMTP provider's
notifier, as the spec's `monitoring.notify` asks."""

from __future__ import annotations

import logging
from typing import Any

from airflow.sdk import BaseNotifier

from certification_airflow.notifiers.webhook import WebhookNotifier


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
    from certification import monitoring

    messages = monitoring.alerts(certification, outcome)
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
