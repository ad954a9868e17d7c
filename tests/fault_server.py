"""A fault-injecting OpenAI-compatible server on 127.0.0.1 for the fault suite.

Answers are *scripted and deterministic*: each one is a function of the request's
content only (never of timing, order or attempt), so a faulty run and a fault-free
run get the same answers and must end in the same story:

- ingest's per-chunk lore call (``Passage (chapter N): ...``): a ChunkLoreReply JSON
  whose summary is the passage's first sentences and whose items are capitalised
  words of the passage;
- outline merges (``Below are summaries ...``): the first words of the summaries;
- generation's plan (``"chapters"``): a fixed plan; chapter checks (``"done"``):
  ``{"done": false}``; passages: 11 sentences of Frankenstein chosen by a hash of
  the request.

Faults are decided per request, also deterministically: a hash of the request picks
whether it fails and how (for its first one or two arrivals), and a global burst of
429s with ``Retry-After`` hits every request that arrives while it lasts. Fault kinds:
``429`` (with Retry-After), ``500``, ``slow`` (answers after ``slow_seconds``, past the
client's timeout), ``truncated`` (a 200 whose JSON body is cut in half) and ``reset``
(headers and half the body, then a TCP reset).

Usage::

    with FaultServer(faults=Faults(rate=0.35)) as server:
        env = {"OPENAI_BASE_URL": server.base_url, ...}
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

from gen_helpers import PLAN, prose_sentences

KINDS = ("429", "500", "slow", "truncated", "reset")
_CAPITALISED = re.compile(r"\b[A-Z][a-z]{3,}\b")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


@dataclass
class Faults:
    """Which requests fail. ``rate``: share of distinct requests that fail on their
    first one or two arrivals; ``burst``: (first, count) arrival numbers answered 429."""

    rate: float = 0.0
    kinds: tuple[str, ...] = KINDS
    burst: tuple[int, int] | None = None
    retry_after: float = 1.0
    slow_seconds: float = 2.5
    latency: float = 0.0  # every answer waits this long (so concurrent requests overlap)

    def plan_for(self, key: str) -> list[str]:
        """The faults the request ``key`` gets on its first arrivals (then it succeeds)."""
        h = int(hashlib.sha256(key.encode()).hexdigest(), 16)
        if self.rate <= 0 or (h % 10_000) >= self.rate * 10_000:
            return []
        count = 1 + (h >> 20) % 2
        return [self.kinds[(h >> (24 + 5 * i)) % len(self.kinds)] for i in range(count)]


@dataclass
class Stats:
    arrivals: int = 0
    answered: int = 0
    injected: Counter = field(default_factory=Counter)
    max_in_flight: int = 0
    in_flight: int = 0


def request_key(body: dict[str, Any]) -> str:
    """What an answer may depend on: the whole request, canonically encoded."""
    return json.dumps(body, sort_keys=True, ensure_ascii=False)


# -- scripted answers ---------------------------------------------------------------


def _digest(text: str) -> int:
    return int(hashlib.sha256(text.encode("utf-8")).hexdigest(), 16)


def lore_reply(user: str) -> dict[str, Any]:
    """ingest's structured analysis: summary and items taken from the passage itself."""
    passage = user.split("):\n\n", 1)[-1].split("\n\nReturn JSON with:", 1)[0]
    sentences = [s for s in _SENTENCE.split(" ".join(passage.split())) if s]
    summary = " ".join(sentences[:2])[:600] or passage[:200]
    names: list[str] = []
    for word in _CAPITALISED.findall(passage):
        if word not in names and word not in ("Chapter", "There", "They", "When", "What", "This", "That"):
            names.append(word)
    names = names[:4]
    kinds = ("character", "place", "thing")
    items = [
        {
            "name": n,
            "kind": kinds[_digest(n) % 3],
            "aliases": [],
            "description": f"named in: {sentences[0][:80]}" if sentences else "",
        }
        for n in names
    ]
    relations = [{"source": names[0], "target": names[1], "label": "meets"}] if len(names) >= 2 else []
    return {"summary": summary, "items": items, "relations": relations}


def merge_reply(user: str) -> str:
    body = user.split("\n\n", 1)[-1].rsplit("\n\nMerge them", 1)[0]
    return " ".join(body.replace("\n", " ").split()[:40])


class Answers:
    """The deterministic answer for each request content."""

    def __init__(self) -> None:
        self._sentences: list[str] | None = None

    @property
    def sentences(self) -> list[str]:
        if self._sentences is None:
            self._sentences = prose_sentences()
        return self._sentences

    def content(self, body: dict[str, Any]) -> str:
        messages = body.get("messages") or []
        last = str(messages[-1].get("content", "")) if messages else ""
        if last.startswith("Passage (chapter"):
            return json.dumps(lore_reply(last))
        if last.startswith("Below are summaries"):
            return merge_reply(last)
        if '"chapters"' in last:
            return json.dumps(PLAN)
        if '"done"' in last:
            return '{"done": false}'
        blocks = (len(self.sentences) - 1) // 11
        start = (_digest(request_key(body)) % blocks) * 11
        return " ".join(self.sentences[start : start + 11])

    def completion(self, body: dict[str, Any]) -> dict[str, Any]:
        content = self.content(body)
        return {
            "id": "chatcmpl-fault",
            "object": "chat.completion",
            "created": 0,
            "model": body.get("model", "m"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {
                "prompt_tokens": len(request_key(body)) // 4,
                "completion_tokens": len(content) // 4,
                "total_tokens": (len(request_key(body)) + len(content)) // 4,
            },
        }


# -- the server ----------------------------------------------------------------------


class FaultServer:
    """``with FaultServer(faults) as server:`` serves ``server.base_url`` until the block ends."""

    def __init__(self, faults: Faults | None = None) -> None:
        self.faults = faults or Faults()
        self.answers = Answers()
        self.stats = Stats()
        self.seen: Counter = Counter()  # non-burst arrivals per request key
        self.lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def decide(self, key: str) -> str | None:
        """The fault for this arrival of ``key``, or None to answer."""
        with self.lock:
            self.stats.arrivals += 1
            burst = self.faults.burst
            if burst and burst[0] <= self.stats.arrivals < burst[0] + burst[1]:
                self.stats.injected["burst-429"] += 1
                return "429"
            attempt = self.seen[key]
            self.seen[key] += 1
            plan = self.faults.plan_for(key)
            fault = plan[attempt] if attempt < len(plan) else None
            if fault:
                self.stats.injected[fault] += 1
            else:
                self.stats.answered += 1
            return fault

    def __enter__(self) -> Self:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def handle(self) -> None:
                try:
                    super().handle()
                except ValueError:  # the connection was reset on purpose (fault "reset")
                    pass

            def do_GET(self) -> None:
                self._send(200, {"object": "list", "data": [{"id": "m", "object": "model"}]})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                with server.lock:
                    server.stats.in_flight += 1
                    server.stats.max_in_flight = max(server.stats.max_in_flight, server.stats.in_flight)
                try:
                    self._answer(body)
                finally:
                    with server.lock:
                        server.stats.in_flight -= 1

            def _answer(self, body: dict[str, Any]) -> None:
                fault = server.decide(request_key(body))
                if fault == "429":
                    self._send(
                        429,
                        {"error": {"message": "rate limited (injected)", "type": "rate_limit", "code": 429}},
                        {"Retry-After": f"{server.faults.retry_after:g}"},
                    )
                    return
                if fault == "500":
                    self._send(500, {"error": {"message": "internal error (injected)", "type": "server", "code": 500}})
                    return
                payload = json.dumps(server.answers.completion(body)).encode()
                if server.faults.latency:
                    time.sleep(server.faults.latency)
                if fault == "slow":
                    time.sleep(server.faults.slow_seconds)
                elif fault == "truncated":
                    self._send_raw(200, payload[: len(payload) // 2])
                    return
                elif fault == "reset":
                    self._reset_mid_body(payload)
                    return
                self._send_raw(200, payload)

            def _send(self, status: int, data: dict[str, Any], headers: dict[str, str] | None = None) -> None:
                self._send_raw(status, json.dumps(data).encode(), headers)

            def _send_raw(self, status: int, payload: bytes, headers: dict[str, str] | None = None) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    for k, v in (headers or {}).items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(payload)
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

            def _reset_mid_body(self, payload: bytes) -> None:
                """Promise the whole body, send half, then reset the connection (RST)."""
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload[: len(payload) // 2])
                    self.wfile.flush()
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                except (BrokenPipeError, ConnectionResetError):
                    pass
                self.close_connection = True
                self.wfile.close()
                self.rfile.close()
                self.connection.close()

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
