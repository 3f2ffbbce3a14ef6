"""A model behind a serving endpoint: the MLflow scoring protocol (POST /invocations, dataframe_split) or the KServe
v2 / Open Inference Protocol (POST /v2/models/{name}/infer, one input per column). Requests go in batches, at most
`concurrency` at once, each with a timeout and bounded retries with exponential backoff on connection errors,
timeouts, 429 and 5xx; anything else, or retries used up, is an InputError naming the endpoint.

Credentials come from an Airflow Connection in Airflow's environment form and are never recorded: not in the spec
(which names only the connection), the reference, an error message or a document."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from certification.config import settings
from certification.errors import InputError
from certification.jsonutil import canonical_json
from certification.models._scoring import ScoringModel
from certification.spec import Endpoint

PROBE_ROWS = 64
RETRIED = {429, 500, 502, 503, 504}
_KSERVE_TYPES = {"f": "FP64", "i": "INT64", "u": "INT64", "b": "BOOL"}


class EndpointClassifier(ScoringModel):
    def __init__(self, endpoint: Endpoint, features: list[str] | None, score_column: str | None) -> None:
        import requests

        self.endpoint, self.score_column = endpoint, score_column
        self.batch_size, self.concurrency = endpoint.batch_size, endpoint.concurrency
        self.base = endpoint.url.rstrip("/")
        if endpoint.protocol == "kserve_v2":
            path = f"/v2/models/{endpoint.model_name}"
            if endpoint.model_version:
                path += f"/versions/{endpoint.model_version}"
            self.model_path = path
            self.source = f"{self.base}{path}"
        else:
            self.model_path, self.source = "", f"{self.base}/invocations"
        self._local = threading.local()
        self._headers = _auth_headers(endpoint.connection, self.source)
        self._requests = requests
        self.metadata = self._metadata()
        names = [i["name"] for i in self.metadata.get("inputs", []) if isinstance(i, dict) and "name" in i]
        chosen = features or (names if len(names) > 1 else None)
        if chosen is None:
            raise InputError(
                self.source,
                "the server does not say which columns the model takes; name them in model.features",
                field="model.features",
            )
        self.feature_names_in_ = np.array(chosen, dtype=object)

    # -- what the server is -------------------------------------------------------------------------------------
    def _metadata(self) -> dict[str, Any]:
        """What the server reports about the model: KServe v2 model metadata (name, versions, platform, inputs,
        outputs), or the MLflow scoring server's version."""
        if self.endpoint.protocol == "kserve_v2":
            found = self._call("GET", self.model_path)
            if not isinstance(found, dict):
                raise InputError(self.source, "model metadata is not a JSON object", field="model.endpoint")
            return {k: found[k] for k in ("name", "versions", "platform", "inputs", "outputs") if k in found}
        return {"mlflow_version": self._call("GET", "/version", text=True).strip()}

    def identity(self, probe: pd.DataFrame) -> str:
        """SHA-256 of what the server reports and of its answers to the probe batch (rounded to 9 decimals, so
        a float printed differently by the same model does not look like another model)."""
        answers = np.round(self.score(probe.head(PROBE_ROWS)), 9)
        return hashlib.sha256(
            canonical_json(
                {"metadata": self.metadata, "probe": [format(a, ".9f") for a in answers.ravel()]}
            ).encode()
        ).hexdigest()

    # -- scoring (batched and concurrent in ScoringModel.score) --------------------------------------------
    def answer(self, frame: pd.DataFrame) -> Any:
        frame = frame[list(self.feature_names_in_)]
        if self.endpoint.protocol == "kserve_v2":
            return self._kserve_answer(self._call("POST", f"{self.model_path}/infer", _kserve_request(frame)))
        # pandas writes NaN as null, as the MLflow server reads it back; the table is encoded once, as it is sent
        body = '{"dataframe_split": ' + frame.to_json(orient="split", index=False) + "}"
        found = self._call("POST", "/invocations", body)
        predictions = found.get("predictions") if isinstance(found, dict) else None
        if predictions is None:
            raise InputError(self.source, "answered without 'predictions'", field="model.endpoint")
        if predictions and isinstance(predictions[0], dict):  # a table, as records
            return pd.DataFrame(predictions)
        return predictions

    def _kserve_answer(self, found: Any) -> Any:
        outputs = found.get("outputs") if isinstance(found, dict) else None
        if not outputs:
            raise InputError(self.source, "answered without 'outputs'", field="model.endpoint")
        wanted = self.endpoint.output
        chosen = [o for o in outputs if o.get("name") == wanted] if wanted else outputs
        if len(chosen) != 1:
            raise InputError(
                self.source,
                f"outputs {[o.get('name') for o in outputs]}: name the probability output in model.endpoint.output",
                field="model.endpoint.output",
            )
        (output,) = chosen
        try:
            data = np.asarray(output["data"], dtype=float).reshape(output["shape"])
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(
                self.source, f"answered a malformed output tensor: {exc}", field="model.endpoint"
            ) from exc
        return data

    # -- HTTP -------------------------------------------------------------------------------------------------
    def _session(self) -> Any:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = self._requests.Session()
        return session

    def _call(self, method: str, path: str, body: Any = None, *, text: bool = False) -> Any:
        """One request with the endpoint's timeout, retried with backoff on what a retry can cure."""
        pause, failure = self.endpoint.backoff_seconds, ""
        for attempt in range(self.endpoint.retries + 1):
            if attempt:
                time.sleep(pause)
                pause *= 2
            try:
                reply = self._session().request(
                    method,
                    self.base + path,
                    data=body if body is None or isinstance(body, str) else json.dumps(body),
                    headers={"Content-Type": "application/json", **self._headers},
                    timeout=self.endpoint.timeout_seconds,
                )
            except self._requests.Timeout:
                failure = f"no answer within {self.endpoint.timeout_seconds:g} s"
                continue
            except self._requests.ConnectionError as exc:
                failure = f"unreachable ({type(exc).__name__})"
                continue
            if reply.status_code in RETRIED:
                failure = f"HTTP {reply.status_code}: {reply.text[:200]}"
                continue
            if reply.status_code >= 400:
                raise InputError(
                    self.source,
                    f"{method} {path} answered HTTP {reply.status_code}: {reply.text[:200]}",
                    field="model.endpoint",
                )
            if text:
                return reply.text
            try:
                return reply.json()
            except ValueError as exc:
                raise InputError(
                    self.source, f"{method} {path} answered non-JSON: {exc}", field="model.endpoint"
                ) from exc
        raise InputError(
            self.source,
            f"{method} {path} failed after {self.endpoint.retries + 1} tries: {failure}",
            field="model.endpoint",
        )


def _kserve_request(frame: pd.DataFrame) -> dict[str, Any]:
    """One input per column, typed by its dtype (anything not numeric or boolean goes as BYTES)."""
    return {
        "inputs": [
            {
                "name": str(column),
                "shape": [len(frame)],
                "datatype": _KSERVE_TYPES.get(frame[column].dtype.kind, "BYTES"),
                "data": (
                    frame[column].tolist()
                    if frame[column].dtype.kind in _KSERVE_TYPES
                    else frame[column].astype(str).tolist()
                ),
            }
            for column in frame.columns
        ]
    }


# where Connections live besides the environment: Airflow's glue adds its own lookup (the metadata database and
# secrets backends, which only a task can reach); each returns a Connection as a URI or JSON, or None
LOOKUPS: list[Callable[[str], str | None]] = []


def use_connection_lookup(lookup: Callable[[str], str | None]) -> None:
    if lookup not in LOOKUPS:
        LOOKUPS.append(lookup)


def _auth_headers(connection: str | None, source: str) -> dict[str, str]:
    """Authorization from the Connection: its password alone is a bearer token; login and password, basic auth."""
    if connection is None:
        return {}
    found = settings().connections.get(connection.lower())
    for lookup in LOOKUPS:
        found = found or lookup(connection)
    if found is None:
        raise InputError(
            source,
            f"the credentials Connection {connection!r} is not set (AIRFLOW_CONN_{connection.upper()})",
            field="model.endpoint.connection",
        )
    if found.lstrip().startswith("{"):
        fields = json.loads(found)
        login, password = fields.get("login"), fields.get("password")
    else:
        parsed = urllib.parse.urlsplit(found)
        login = urllib.parse.unquote(parsed.username or "") or None
        password = urllib.parse.unquote(parsed.password or "") or None
    if not password:
        raise InputError(
            source, f"the Connection {connection!r} has no password", field="model.endpoint.connection"
        )
    if login:
        return {"Authorization": "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode()}
    return {"Authorization": f"Bearer {password}"}
