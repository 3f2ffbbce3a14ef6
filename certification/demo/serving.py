"""A small KServe v2 / Open Inference Protocol server for one model, on 127.0.0.1 in a thread: how the demo, the
tests and the benchmarks put a real model behind a real HTTP endpoint. The model can be swapped while it serves
(`server.model = other`), as a careless deployment would, and `fault` lets a test make the server misbehave."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pandas as pd

# (path, request body: None for a GET) -> None to answer normally, or (status, body) to answer that instead
Fault = Callable[[str, Any], tuple[int, Any] | None]


class ModelServer:
    def __init__(
        self,
        model: Any,
        features: list[str],
        *,
        name: str = "model",
        version: str = "1",
        token: str | None = None,
    ) -> None:
        self.model, self.features, self.name, self.version, self.token = model, features, name, version, token
        self.fault: Fault | None = None
        self.requests = 0
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._http.daemon_threads = True
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._http.server_address[1]}"

    def __enter__(self) -> ModelServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.shutdown()
        self._http.server_close()

    def metadata(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "versions": [self.version],
            "platform": type(self.model).__module__.split(".")[0],
            "inputs": [{"name": f, "datatype": "BYTES", "shape": [-1]} for f in self.features],
            "outputs": [{"name": "probabilities", "datatype": "FP64", "shape": [-1, 2]}],
        }

    def infer(self, body: dict[str, Any]) -> dict[str, Any]:
        columns = {i["name"]: i["data"] for i in body["inputs"]}
        frame = pd.DataFrame({f: columns[f] for f in self.features})
        probabilities = np.asarray(self.model.predict_proba(frame), dtype=float)
        return {
            "model_name": self.name,
            "model_version": self.version,
            "outputs": [
                {
                    "name": "probabilities",
                    "datatype": "FP64",
                    "shape": list(probabilities.shape),
                    "data": probabilities.ravel().tolist(),
                }
            ],
        }


def _handler(server: ModelServer) -> type[BaseHTTPRequestHandler]:
    model_path = f"/v2/models/{server.name}"
    versioned = f"{model_path}/versions/{server.version}"

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as serving frameworks do

        def log_message(self, *args: Any) -> None:  # quiet: the tests read the answers, not the access log
            pass

        def _send(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _authorised(self) -> bool:
            if server.token is None or self.headers.get("Authorization") == f"Bearer {server.token}":
                return True
            self._send(401, {"error": "unauthorised"})
            return False

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            if not self._authorised():
                return
            injected = server.fault(self.path, None) if server.fault else None
            if injected is not None:
                self._send(*injected)
            elif self.path in ("/v2/health/ready", "/v2/health/live"):
                self._send(200, {"ready": True})
            elif self.path in (model_path, versioned):
                self._send(200, server.metadata())
            else:
                self._send(404, {"error": f"no route {self.path}"})

        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"null")
            if not self._authorised():
                return
            server.requests += 1
            injected = server.fault(self.path, body) if server.fault else None
            if injected is not None:
                self._send(*injected)
            elif self.path in (f"{model_path}/infer", f"{versioned}/infer"):
                try:
                    self._send(200, server.infer(body))
                except (KeyError, TypeError, ValueError) as exc:
                    self._send(400, {"error": str(exc)})
            else:
                self._send(404, {"error": f"no route {self.path}"})

    return Handler
