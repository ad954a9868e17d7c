"""Secrets never reach the user: an error body echoing the Authorization header, a
base URL with user:password@, through the real CLI against loopback servers."""

from __future__ import annotations

from pathlib import Path

import pytest
from loopback import Loopback
from typer.testing import CliRunner

from automuse_rag.cli import app
from automuse_rag.redact import redact, redact_url
from tests.servers import free_port

KEY = "sk-proj-Zq81secretKEYvalue0042"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "AUTOMUSE_OPENAI_API_KEY", "AUTOMUSE_OPENAI_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AUTOMUSE_OPENAI_MAX_RETRIES", "0")


def test_redact_masks_keys_headers_and_url_credentials() -> None:
    text = (
        f"bad request: Authorization: Bearer {KEY}; headers {{'authorization': 'Bearer abcdef123456'}} "
        "at https://alice:hunter2@example.com/v1?api_key=zzz999&x=1 token=abc.def"
    )
    out = redact(text)
    for secret in (KEY, "abcdef123456", "hunter2", "alice", "zzz999", "abc.def"):
        assert secret not in out
    assert "https://***@example.com/v1" in out and "x=1" in out
    assert redact("plain text with max_tokens=5 and prompt_tokens: 3") == "plain text with max_tokens=5 and prompt_tokens: 3"
    assert redact("the key is mysecretvalue", ["mysecretvalue"]) == "the key is ***"
    assert redact_url("http://127.0.0.1:8000/v1") == "http://127.0.0.1:8000/v1"


def test_an_error_body_echoing_the_authorization_header_is_redacted(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def echo(body, headers):
        auth = headers.get("Authorization") or headers.get("authorization")
        return 400, f"invalid request; you sent Authorization: {auth}", (0, 0)

    with Loopback(echo) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", KEY)
        result = CliRunner().invoke(app, ["complete", "hi", "--llm", "openai:m", "--no-cache"])
        assert len(server.requests) == 1
    assert result.exit_code == 3
    assert result.output.startswith("error: the server at") and "HTTP 400" in result.output
    assert "Authorization: Bearer ***" in result.output
    assert KEY not in result.output and KEY[8:] not in result.output


def test_url_credentials_never_reach_the_output(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://bob:hunter2pass@127.0.0.1:{free_port()}/v1")  # nothing listens
    result = CliRunner().invoke(app, ["complete", "hi", "--llm", "openai:m", "--no-cache"])
    assert result.exit_code == 3
    assert result.output.startswith("error: cannot reach") and "http://***@127.0.0.1" in result.output
    assert "hunter2pass" not in result.output and "bob" not in result.output


def test_doctor_shows_the_server_without_credentials(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with Loopback(lambda b, h: (200, "OK", (3, 1))) as server:
        url = server.base_url.replace("http://", "http://carol:s3cr3tpw@")
        monkeypatch.setenv("OPENAI_BASE_URL", url)
        result = CliRunner().invoke(app, ["doctor", "--llm", "openai:m", "--embedder", "hash", "--json"])
    assert "s3cr3tpw" not in result.output and "carol" not in result.output
    assert "***@127.0.0.1" in result.output
