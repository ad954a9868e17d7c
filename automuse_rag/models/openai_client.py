"""The OpenAI client as this project uses it: one client per settings, retries with
backoff that honours Retry-After, and errors translated into one redacted line."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from automuse_rag.errors import ModelError
from automuse_rag.redact import redact
from automuse_rag.settings import Settings

R = TypeVar("R")

OFFICIAL_URL = "https://api.openai.com/v1"
DUMMY_KEY = "not-needed"  # local servers accept any key
BACKOFF_INITIAL = 0.5  # seconds; doubles per attempt, plus jitter (default of AUTOMUSE_OPENAI_RETRY_WAIT)
BACKOFF_MAX = 20.0  # default of AUTOMUSE_OPENAI_RETRY_MAX_WAIT

# Context windows of well-known OpenAI models; others default to a safe 8192.

_KEY_VARS = "OPENAI_API_KEY / AUTOMUSE_OPENAI_API_KEY"
_URL_VARS = "OPENAI_BASE_URL / AUTOMUSE_OPENAI_BASE_URL"


def make_client(settings: Settings, *, timeout: float | None = None) -> Any:
    """An ``openai.OpenAI`` client for the configured server (its own retries off: we retry)."""
    import openai

    key = settings.openai_api_key
    if not key:
        if not settings.openai_base_url:
            raise ModelError(
                f"no API key for api.openai.com: set OPENAI_API_KEY (or AUTOMUSE_OPENAI_API_KEY), "
                f"or point {_URL_VARS} at a local server"
            )
        key = DUMMY_KEY
    return openai.OpenAI(
        api_key=key,
        base_url=settings.openai_base_url or None,
        timeout=timeout if timeout is not None else settings.openai_timeout,
        max_retries=0,
    )


def base_url_of(settings: Settings) -> str:
    return settings.openai_base_url or OFFICIAL_URL


def _retryable(exc: BaseException) -> bool:
    import openai

    if isinstance(exc, (openai.APITimeoutError, openai.APIConnectionError, openai.RateLimitError)):
        return True
    if isinstance(exc, json.JSONDecodeError):  # a 200 whose body was cut short: transient
        return True
    return isinstance(exc, openai.APIStatusError) and exc.status_code >= 500 and not _rejects_format(exc)


def _rejects_format(exc: BaseException) -> bool:
    """A request-validation error about ``response_format`` (llama-cpp-python's server
    answers 500 for it): not transient, and the cue to try the next format."""
    return "response_format" in str(getattr(exc, "message", exc))


def retry_after(exc: BaseException) -> float | None:
    """Seconds a 429/503 answer asks the client to wait (``retry-after-ms`` or
    ``Retry-After``: seconds or an HTTP date), or None."""
    headers = getattr(getattr(exc, "response", None), "headers", None)
    if headers is None:
        return None
    try:
        if headers.get("retry-after-ms"):
            return max(0.0, float(headers["retry-after-ms"]) / 1000)
        value = headers.get("retry-after")
        if not value:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            import email.utils
            import time

            when = email.utils.parsedate_to_datetime(value)
            return max(0.0, when.timestamp() - time.time())
    except (TypeError, ValueError, OverflowError):
        return None


def _wait(initial: float, maximum: float) -> Callable[[Any], float]:
    """tenacity wait: exponential backoff with jitter, but at least the server's
    Retry-After (capped at ``maximum``)."""
    from tenacity import wait_exponential_jitter

    backoff = wait_exponential_jitter(initial=initial, max=maximum, jitter=min(1.0, 2 * initial))

    def wait(state: Any) -> float:
        base = backoff(state)
        outcome = state.outcome
        asked = retry_after(outcome.exception()) if outcome is not None and outcome.failed else None
        return min(maximum, max(base, asked)) if asked is not None else base

    return wait


def translate_error(exc: BaseException, url: str, model: str, secrets: Sequence[str | None] = ()) -> ModelError:
    """One line with the fix for an ``openai`` exception, with credentials masked (an
    error body may echo the Authorization header; the URL may carry user:password@)."""
    error = _translate(exc, url, model)
    return ModelError(redact(str(error), secrets))


def _translate(exc: BaseException, url: str, model: str) -> ModelError:
    import openai

    if isinstance(exc, openai.APITimeoutError):
        return ModelError(f"the OpenAI-compatible server at {url} timed out (raise AUTOMUSE_OPENAI_TIMEOUT, or check the server)")
    if isinstance(exc, openai.APIConnectionError):
        return ModelError(f"cannot reach the OpenAI-compatible server at {url} (check {_URL_VARS}, or start the server)")
    if isinstance(exc, openai.AuthenticationError):
        return ModelError(f"the server at {url} rejected the API key (set {_KEY_VARS})")
    if isinstance(exc, openai.PermissionDeniedError):
        return ModelError(f"the API key may not use model {model!r} at {url} (check the key's project and model access)")
    if isinstance(exc, openai.NotFoundError):
        return ModelError(f"the server at {url} has no model {model!r} (choose one it serves: --llm openai:MODEL)")
    if isinstance(exc, openai.RateLimitError):
        return ModelError(f"the server at {url} kept rate-limiting (429) after retries; lower --concurrency or try later")
    if isinstance(exc, openai.APIStatusError):
        detail = _short(exc.message)
        return ModelError(f"the server at {url} answered HTTP {exc.status_code}: {detail}")
    if isinstance(exc, json.JSONDecodeError):
        return ModelError(f"the server at {url} kept sending malformed JSON (cut short?) after retries: {_short(str(exc))}")
    return ModelError(f"OpenAI-compatible call to {url} failed: {_short(str(exc))}")


def _short(text: str, limit: int = 200) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


class _Caller:
    """Runs client calls with retries (tenacity) and error translation."""

    def __init__(self, settings: Settings, model: str) -> None:
        self.url = base_url_of(settings)
        self.secrets = (settings.openai_api_key,)
        self.model = model
        self.max_retries = max(0, int(settings.openai_max_retries))
        self.wait = _wait(max(0.0, float(settings.openai_retry_wait)), max(0.0, float(settings.openai_retry_max_wait)))
        self.client = make_client(settings)
        self.attempts = 0  # total HTTP attempts (for tests and doctor)
        self._lock = threading.Lock()

    def __call__(self, fn: Callable[[], R]) -> R:
        import openai
        from tenacity import RetryError, Retrying, retry_if_exception, stop_after_attempt

        retrying = Retrying(
            retry=retry_if_exception(_retryable),
            stop=stop_after_attempt(self.max_retries + 1),
            wait=self.wait,
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    with self._lock:
                        self.attempts += 1
                    return fn()
        except RetryError as exc:  # pragma: no cover - reraise=True makes this rare
            raise translate_error(exc.last_attempt.exception() or exc, self.url, self.model, self.secrets) from None
        except (openai.OpenAIError, json.JSONDecodeError) as exc:
            error = translate_error(exc, self.url, self.model, self.secrets)
            error.status = getattr(exc, "status_code", None)  # type: ignore[attr-defined]
            error.rejects_format = _rejects_format(exc)  # type: ignore[attr-defined]
            raise error from None
        raise AssertionError("unreachable")  # pragma: no cover
