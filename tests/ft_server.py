"""A small OpenAI-compatible fine-tuning server for the tests (stdlib ``http.server``
in a thread on 127.0.0.1 and a free port).

It implements ``POST /v1/files`` (multipart upload), ``POST /v1/fine_tuning/jobs``,
``GET /v1/fine_tuning/jobs`` (list), ``GET /v1/fine_tuning/jobs/ID``,
``POST /v1/fine_tuning/jobs/ID/cancel`` and ``GET /v1/fine_tuning/jobs/ID/events``,
with OpenAI's JSON shapes, and scripts what happens:

* the API key ``bad-key`` gets 401; ``no-quota`` gets 429 ``insufficient_quota``;
  ``busy`` gets 429 ``rate_limit_exceeded`` (retryable) on every request;
* base models in ``FINE_TUNABLE`` progress one stage per status request:
  validating_files, queued, running (one metrics event per step), succeeded with a
  ``ft:...`` model name; ``broken-base`` fails with its own error; ``endless-base``
  keeps running until cancelled; any other model is refused (400, param ``model``).

Every request is logged in ``server.requests`` and uploads in ``server.files``.
"""

from __future__ import annotations

import email.parser
import email.policy
import itertools
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

FINE_TUNABLE = ("gpt-4o-mini-2024-07-18", "gpt-3.5-turbo-0125", "broken-base", "endless-base")
STEPS = 3
FAILURE = {
    "code": "invalid_training_file",
    "message": "Training file [messages] has 3 examples with a loss of NaN at step 2.",
    "param": "training_file",
}


@dataclass
class Job:
    id: str
    model: str
    training_file: str
    validation_file: str | None
    suffix: str | None
    epochs: Any
    created_at: int
    status: str = "validating_files"
    stage: int = 0
    fine_tuned_model: str | None = None
    trained_tokens: int | None = None
    finished_at: int | None = None
    error: dict[str, Any] | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    metadata: dict[str, str] | None = None

    def body(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "fine_tuning.job",
            "model": self.model,
            "created_at": self.created_at,
            "finished_at": self.finished_at,
            "fine_tuned_model": self.fine_tuned_model,
            "organization_id": "org-test",
            "result_files": [],
            "status": self.status,
            "validation_file": self.validation_file,
            "training_file": self.training_file,
            "hyperparameters": {"n_epochs": self.epochs or "auto", "batch_size": "auto", "learning_rate_multiplier": "auto"},
            "trained_tokens": self.trained_tokens,
            "error": self.error,
            "seed": 42,
            "estimated_finish": None,
            "integrations": [],
            "metadata": self.metadata,
            "method": {"type": "supervised"},
        }


class FineTuneServer:
    """The state behind the HTTP handler."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: list[tuple[str, str]] = []
        self.files: dict[str, dict[str, Any]] = {}
        self.jobs: dict[str, Job] = {}
        self._ids = itertools.count(1)
        self.base_url = ""

    def _event(self, job: Job, message: str, data: dict[str, Any] | None = None, level: str = "info") -> None:
        job.events.append(
            {
                "id": f"ftevent-{next(self._ids)}",
                "object": "fine_tuning.job.event",
                "created_at": int(time.time()),
                "level": level,
                "message": message,
                "data": data or {},
                "type": "metrics" if data else "message",
            }
        )

    def advance(self, job: Job) -> None:
        """One stage further on every status request, as a real job moves on over time."""
        if job.status in ("succeeded", "failed", "cancelled"):
            return
        job.stage += 1
        if job.status == "validating_files":
            if job.model == "broken-base":
                job.status, job.error, job.finished_at = "failed", dict(FAILURE), int(time.time())
                self._event(job, f"Job failed: {FAILURE['message']}", level="error")
                return
            job.status = "queued"
            self._event(job, "Validated training file; job queued")
        elif job.status == "queued":
            job.status = "running"
            self._event(job, "Fine-tuning job started")
        elif job.status == "running":
            step = job.stage - 2
            if job.model == "endless-base" or step <= STEPS:
                self._event(job, f"Step {step}/{STEPS}: training loss={2.0 / step:.2f}", {"step": step, "train_loss": 2.0 / step})
                return
            size = self.files[job.training_file]["bytes"]
            job.status, job.trained_tokens, job.finished_at = "succeeded", size // 4 * int(job.epochs or 3), int(time.time())
            job.fine_tuned_model = f"ft:{job.model}:org-test:{job.suffix or ''}:{job.id[-6:]}"
            self._event(job, f"New fine-tuned model created: {job.fine_tuned_model}")
            self._event(job, "The job has successfully completed")


def _error(status: int, message: str, type_: str, code: str | None = None, param: str | None = None) -> tuple[int, dict]:
    return status, {"error": {"message": message, "type": type_, "param": param, "code": code}}


def _multipart(content_type: str, body: bytes) -> dict[str, Any]:
    message = email.parser.BytesParser(policy=email.policy.default).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    parts: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        filename = part.get_filename()
        payload = part.get_payload(decode=True)
        parts[name] = {"filename": filename, "content": payload} if filename else payload.decode()
    return parts


def handle(server: FineTuneServer, method: str, path: str, headers: Any, body: bytes) -> tuple[int, dict]:
    """The answer (status, JSON body) to one request."""
    key = (headers.get("Authorization") or "").removeprefix("Bearer ").strip()
    url = urlparse(path)
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    parts = [p for p in url.path.split("/") if p]
    with server.lock:
        server.requests.append((method, url.path))
        if key == "bad-key":
            return _error(401, "Incorrect API key provided: bad-key.", "invalid_request_error", "invalid_api_key")
        if key == "no-quota":
            return _error(
                429,
                "You exceeded your current quota, please check your plan and billing details.",
                "insufficient_quota",
                "insufficient_quota",
            )
        if key == "busy":
            return _error(429, "Rate limit reached for requests", "requests", "rate_limit_exceeded")
        if parts[:2] == ["v1", "files"] and method == "POST":
            form = _multipart(headers.get("Content-Type", ""), body)
            upload = form.get("file")
            if form.get("purpose") != "fine-tune" or not isinstance(upload, dict):
                return _error(400, "purpose must be fine-tune with a file", "invalid_request_error", param="purpose")
            file_id = f"file-{next(server._ids)}"
            server.files[file_id] = {
                "id": file_id,
                "object": "file",
                "bytes": len(upload["content"]),
                "created_at": int(time.time()),
                "filename": upload["filename"],
                "purpose": "fine-tune",
                "status": "processed",
                "content": upload["content"],
            }
            return 200, {k: v for k, v in server.files[file_id].items() if k != "content"}
        if parts[:2] == ["v1", "files"] and method == "DELETE" and len(parts) == 3:
            if server.files.pop(parts[2], None) is None:
                return _error(404, f"No such File object: {parts[2]}", "invalid_request_error")
            return 200, {"id": parts[2], "object": "file", "deleted": True}
        if parts[:3] != ["v1", "fine_tuning", "jobs"]:
            return _error(404, f"no route {method} {url.path}", "invalid_request_error")
        rest = parts[3:]
        if not rest and method == "POST":
            request = json.loads(body or b"{}")
            model = request.get("model")
            if model not in FINE_TUNABLE:
                return _error(
                    400,
                    f"Model {model} is not available for fine-tuning or does not exist.",
                    "invalid_request_error",
                    "model_not_available",
                    "model",
                )
            for name in ("training_file", "validation_file"):
                if request.get(name) is not None and request[name] not in server.files:
                    return _error(400, f"invalid {name}: {request[name]}", "invalid_request_error", param=name)
            epochs = (((request.get("method") or {}).get("supervised") or {}).get("hyperparameters") or {}).get("n_epochs")
            job = Job(
                f"ftjob-test{next(server._ids):06d}",
                model,
                request["training_file"],
                request.get("validation_file"),
                request.get("suffix"),
                epochs,
                int(time.time()),
                metadata=request.get("metadata"),
            )
            server.jobs[job.id] = job
            server._event(job, f"Created fine-tuning job: {job.id}")
            return 200, job.body()
        if not rest and method == "GET":
            jobs = sorted(server.jobs.values(), key=lambda j: j.id, reverse=True)[: int(query.get("limit", 20))]
            return 200, {"object": "list", "data": [j.body() for j in jobs], "has_more": False}
        job = server.jobs.get(rest[0])
        if job is None:
            return _error(404, f"Could not find fine-tune job: {rest[0]}", "invalid_request_error", param="fine_tune_id")
        if len(rest) == 1 and method == "GET":
            server.advance(job)
            return 200, job.body()
        if rest[1:] == ["cancel"] and method == "POST":
            if job.status in ("succeeded", "failed", "cancelled"):
                return _error(400, f"Job {job.id} has already {job.status}", "invalid_request_error")
            job.status, job.finished_at = "cancelled", int(time.time())
            server._event(job, "Fine-tuning job cancelled")
            return 200, job.body()
        if rest[1:] == ["events"] and method == "GET":
            events = list(reversed(job.events))[: int(query.get("limit", 20))]
            return 200, {"object": "list", "data": events, "has_more": False}
        return _error(404, f"no route {method} {url.path}", "invalid_request_error")


@contextmanager
def finetune_server() -> Iterator[FineTuneServer]:
    """Serve a fresh :class:`FineTuneServer` until the block ends (``.base_url``)."""
    state = FineTuneServer()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def _answer(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            status, payload = handle(state, method, self.path, self.headers, body)
            data = json.dumps(payload).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def do_GET(self) -> None:
            self._answer("GET")

        def do_POST(self) -> None:
            self._answer("POST")

        def do_DELETE(self) -> None:
            self._answer("DELETE")

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    state.base_url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True, name="finetune-server")
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
