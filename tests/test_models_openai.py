"""The openai backend against a real OpenAI-compatible server (llama-cpp-python's,
serving the shipped GGUF on 127.0.0.1) and against a small scripted HTTP server that
answers 429, 500, 401 or slowly, to prove retries, timeouts and error messages."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from pydantic import BaseModel
from servers import free_port, llama_server
from typer.testing import CliRunner

from automuse_rag.cli import app
from automuse_rag.errors import ModelError
from automuse_rag.generate.continuity import confirm, confirms, sift
from automuse_rag.lore.continuity import Contradiction
from automuse_rag.lore.facts import Fact
from automuse_rag.models.base import ChatModel, Sampling
from automuse_rag.models.openai_backend import OpenAIChatModel, OpenAIEmbedder
from automuse_rag.models.registry import get_chat_model
from automuse_rag.models.tokens import estimate_tokens
from automuse_rag.settings import get_settings

pytestmark = pytest.mark.slow

SHORT = Sampling(temperature=0.0, max_tokens=12, seed=1)


class Person(BaseModel):
    name: str
    age: int


@pytest.fixture(autouse=True)
def _no_openai_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "AUTOMUSE_OPENAI_API_KEY", "AUTOMUSE_OPENAI_BASE_URL"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(scope="module")
def server():
    with llama_server(n_ctx=2048, logits_all=True) as running:
        yield running


@pytest.fixture(scope="module")
def model(server) -> OpenAIChatModel:
    return OpenAIChatModel(get_settings(openai_base_url=server.base_url, openai_timeout=120), server.model)


# -- against the real server ------------------------------------------------------
def test_chat_against_the_real_server(model: OpenAIChatModel) -> None:
    assert isinstance(model, ChatModel)
    reply = model.complete([{"role": "user", "content": "Name a colour."}], SHORT)
    assert reply.text.strip()
    assert 0 < reply.usage.completion_tokens <= SHORT.max_tokens
    assert reply.usage.prompt_tokens > 0


def test_structured_call_against_the_real_server(model: OpenAIChatModel) -> None:
    person = model.structured(
        [{"role": "user", "content": "Invent a person. Reply as JSON with a name and an age."}],
        Person,
        Sampling(temperature=0.2, max_tokens=60, seed=2),
    )
    assert isinstance(person, Person) and person.name
    assert model._structured_mode == "json_object"  # llama-cpp's server rejects json_schema; we fell back


def test_chat_many_against_the_real_server(model: OpenAIChatModel) -> None:
    convs = [[{"role": "user", "content": f"Repeat the number {i}."}] for i in range(3)]
    answers = model.chat_many(convs, SHORT.with_(max_tokens=6), concurrency=2)
    assert len(answers) == 3 and all(a.strip() for a in answers)


def test_token_counts_never_undercount_what_the_server_counts(model: OpenAIChatModel) -> None:
    text = "It was the best of times, it was the worst of times, it was the age of wisdom."
    assert model.token_method == "estimate"  # the served model is not an OpenAI one
    reply = model.complete([{"role": "user", "content": text}], SHORT.with_(max_tokens=1))
    templated_prompt = reply.usage.prompt_tokens  # includes the chat template
    assert model.count_tokens(text) == estimate_tokens(text)
    assert model.count_tokens(text) >= templated_prompt - 40  # template overhead is ~30 tokens


def test_continuation_nll_from_prompt_logprobs(model: OpenAIChatModel) -> None:
    nll, n = model.continuation_nll("The cat sat on the", " mat.")
    assert n == 2 and nll > 0


def test_cli_complete_against_the_server(server, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    args = ["complete", "Say hello.", "--llm", f"openai:{server.model}", "--max-tokens", "8", "--temperature", "0", "--json"]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    data = json.loads(first.stdout)
    assert data["completion"] and data["calls"] == 1 and data["model"] == f"openai:{server.model}"
    again = json.loads(CliRunner().invoke(app, args).stdout)
    assert again["completion"] == data["completion"] and again["calls"] == 0 and again["cached"]
    fresh = json.loads(CliRunner().invoke(app, [*args, "--no-cache"]).stdout)
    assert fresh["calls"] == 1


# -- a scripted server for failures ----------------------------------------------
class Scripted:
    """Answers requests from a script of (status, delay) steps; then 200s after
    ``delay`` seconds. Records request times and the most requests in flight."""

    def __init__(self, steps: list[tuple[int, float]]) -> None:
        self.steps = list(steps)
        self.requests: list[float] = []
        self.lock = threading.Lock()
        self.delay = 0.0
        self.in_flight = 0
        self.max_in_flight = 0

    def next(self) -> tuple[int, float]:
        with self.lock:
            self.requests.append(time.monotonic())
            return self.steps.pop(0) if self.steps else (200, self.delay)


def _completion_body(request: dict) -> dict:
    last = request["messages"][-1]["content"]
    content = "pong" if last == "ping" else f"echo {last}"
    return {
        "id": "x",
        "object": "chat.completion",
        "created": 0,
        "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
    }


def _embedding_body(inputs: list[str]) -> dict:
    return {
        "object": "list",
        "model": "m",
        "usage": {"prompt_tokens": 1, "total_tokens": 1},
        "data": [{"object": "embedding", "index": i, "embedding": [float(len(t)), 1.0, 0.5]} for i, t in enumerate(inputs)],
    }


@pytest.fixture
def scripted() -> Iterator[tuple[Scripted, str]]:
    script = Scripted([])

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # quiet
            pass

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length", 0))
            request = json.loads(self.rfile.read(length) or b"{}")
            status, delay = script.next()
            with script.lock:
                script.in_flight += 1
                script.max_in_flight = max(script.max_in_flight, script.in_flight)
            time.sleep(delay)
            with script.lock:
                script.in_flight -= 1
            if status == 200:
                body = _embedding_body(request["input"]) if self.path.endswith("/embeddings") else _completion_body(request)
            else:
                body = {"error": {"message": f"scripted {status}", "type": "x", "code": status}}
            payload = json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield script, f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    finally:
        httpd.shutdown()
        httpd.server_close()


def _scripted_model(url: str, **overrides) -> OpenAIChatModel:
    return OpenAIChatModel(get_settings(openai_base_url=url, **overrides), "m")


def test_retries_429_then_500_then_succeeds(scripted) -> None:
    script, url = scripted
    script.steps = [(429, 0.0), (500, 0.0)]
    model = _scripted_model(url, openai_max_retries=3)
    assert model.chat([{"role": "user", "content": "ping"}], SHORT) == "pong"
    assert len(script.requests) == 3 and model.attempts == 3
    gaps = [b - a for a, b in zip(script.requests, script.requests[1:])]
    assert all(g >= 0.4 for g in gaps)  # backoff between attempts


def test_chat_many_keeps_order_and_bounds_concurrency(scripted) -> None:
    script, url = scripted
    script.delay = 0.3
    model = _scripted_model(url)
    convs = [[{"role": "user", "content": str(i)}] for i in range(8)]
    start = time.monotonic()
    assert model.chat_many(convs, SHORT, concurrency=3) == [f"echo {i}" for i in range(8)]
    assert script.max_in_flight == 3
    assert time.monotonic() - start < 8 * 0.3  # really concurrent


def test_a_slow_server_times_out_then_is_retried(scripted) -> None:
    script, url = scripted
    script.steps = [(200, 3.0)]
    model = _scripted_model(url, openai_timeout=0.5, openai_max_retries=2)
    start = time.monotonic()
    assert model.chat([{"role": "user", "content": "ping"}], SHORT) == "pong"
    assert time.monotonic() - start < 3.0  # did not wait for the slow answer
    assert len(script.requests) == 2


def test_persistent_failures_end_in_one_clear_line(scripted) -> None:
    script, url = scripted
    script.steps = [(500, 0.0)] * 3
    model = _scripted_model(url, openai_max_retries=2)
    with pytest.raises(ModelError, match="HTTP 500") as info:
        model.chat([{"role": "user", "content": "ping"}], SHORT)
    assert "\n" not in str(info.value) and len(script.requests) == 3

    script.steps = [(200, 3.0)] * 2
    slow = _scripted_model(url, openai_timeout=0.3, openai_max_retries=1)
    with pytest.raises(ModelError, match="timed out"):
        slow.chat([{"role": "user", "content": "ping"}], SHORT)


def test_a_rejected_key_is_not_retried(scripted) -> None:
    script, url = scripted
    script.steps = [(401, 0.0)]
    model = OpenAIChatModel(get_settings(openai_base_url=url, openai_api_key="sk-wrong"), "m")
    with pytest.raises(ModelError, match="rejected the API key .*OPENAI_API_KEY"):
        model.chat([{"role": "user", "content": "ping"}], SHORT)
    assert len(script.requests) == 1


def test_unreachable_server_and_missing_key_messages() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    model = OpenAIChatModel(get_settings(openai_base_url=url, openai_max_retries=1), "m")
    with pytest.raises(ModelError, match=r"cannot reach the OpenAI-compatible server at .*OPENAI_BASE_URL"):
        model.chat([{"role": "user", "content": "ping"}], SHORT)
    with pytest.raises(ModelError, match="set OPENAI_API_KEY"):
        get_chat_model("openai:gpt-4o-mini", get_settings())


def test_cli_reports_an_unreachable_server_without_traceback(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{free_port()}/v1")
    monkeypatch.setenv("AUTOMUSE_OPENAI_MAX_RETRIES", "0")
    result = CliRunner().invoke(app, ["complete", "hi", "--llm", "openai:m"])
    assert result.exit_code == 3
    assert result.output.startswith("error: cannot reach") and "Traceback" not in result.output


def test_openai_embedder_batches_and_learns_its_dimension(scripted) -> None:
    script, url = scripted
    embedder = OpenAIEmbedder(get_settings(openai_base_url=url), "m", batch_size=2)
    vectors = embedder.embed(["a", "bb", "ccc"])
    assert [v[0] for v in vectors] == [1.0, 2.0, 3.0]
    assert embedder.dimension == 3 and embedder.name == "openai:m"
    assert len(script.requests) == 2  # two batches


class _Counted:
    """The served model, counting the calls made through it (the client is the real one)."""

    def __init__(self, inner: OpenAIChatModel) -> None:
        self.inner, self.calls = inner, 0
        self.remote = True

    def chat(self, messages, sampling=None):  # type: ignore[no-untyped-def]
        self.calls += 1
        return self.inner.chat(messages, sampling)


def test_a_contradiction_is_put_to_the_served_model_in_one_short_call(model: OpenAIChatModel) -> None:
    """Generation's confirmation (generate/continuity.py) against the loopback llama.cpp
    server: asked by default of a served model, one call per contradiction found, and
    the split follows the model's answers (the same at temperature 0)."""
    dead = Fact("dead", "Henry Clerval", "dead", "Henry Clerval died in the night, and we buried him at dawn.", 3)
    role = Fact("role", "Nora Fairley", "clockmaker", "Nora Fairley: a young clockmaker (the plan)", -1)
    found = [
        Contradiction(9, "dead", "henry-clerval", "Henry Clerval", '"Good morning," said Henry Clerval, and sat down.', dead),
        Contradiction(9, "role", "plan:Nora Fairley", "Nora Fairley", "The clockmaker's name was Emily.", role),
    ]
    assert confirms(model, "auto")
    counted = _Counted(model)
    standing, dismissed = sift(counted, found)  # type: ignore[arg-type]
    assert counted.calls == len(found) and sorted(map(id, standing + dismissed)) == sorted(map(id, found))
    verdicts = [confirm(model, c) for c in found]
    assert [c for c, v in zip(found, verdicts) if v is False] == dismissed
    assert [c for c, v in zip(found, verdicts) if v is not False] == standing
