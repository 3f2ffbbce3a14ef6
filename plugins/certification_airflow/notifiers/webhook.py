"""A monitoring alert as a JSON POST."""

from __future__ import annotations

import json
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
