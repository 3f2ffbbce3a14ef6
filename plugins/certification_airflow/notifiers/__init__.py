"""Notifiers: monitoring alerts as a JSON webhook or e-mail."""

from certification_airflow.notifiers.alerts import WebhookNotifier, notifiers, send_alerts

__all__ = ["WebhookNotifier", "notifiers", "send_alerts"]
