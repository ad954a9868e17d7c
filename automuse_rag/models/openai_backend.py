"""``openai:MODEL``: any OpenAI-compatible server (OpenAI, vLLM, Ollama, LM Studio,
llama.cpp's server) through the ``openai`` client.

Key and base URL come from settings (``OPENAI_API_KEY`` / ``OPENAI_BASE_URL`` or the
``AUTOMUSE_``-prefixed ones). Rate limits (429), server errors (5xx), timeouts and
connection errors are retried with exponential backoff and jitter (tenacity), waiting
at least as long as a server's ``Retry-After`` asks (``AUTOMUSE_OPENAI_RETRY_WAIT`` /
``AUTOMUSE_OPENAI_RETRY_MAX_WAIT`` set the waits); so is an answer whose JSON body is
cut short. What still fails becomes one :class:`ModelError` line saying how to fix it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from automuse_rag.errors import ModelError, StructuredOutputError
from automuse_rag.models.base import Capabilities, Message, Reply, Sampling, Usage
from automuse_rag.models.structured import first_error, fit_max_tokens, repair_messages
from automuse_rag.models.tokens import OpenAITokenCounter
from automuse_rag.settings import Settings

T = TypeVar("T", bound=BaseModel)
R = TypeVar("R")

DEFAULT_CHAT_MODEL = "gpt-4o-mini"
DEFAULT_EMBED_MODEL = "text-embedding-3-small"
OFFICIAL_URL = "https://api.openai.com/v1"
DUMMY_KEY = "not-needed"  # local servers accept any key
BACKOFF_INITIAL = 0.5  # seconds; doubles per attempt, plus jitter (default of AUTOMUSE_OPENAI_RETRY_WAIT)
BACKOFF_MAX = 20.0  # default of AUTOMUSE_OPENAI_RETRY_MAX_WAIT

# Context windows of well-known OpenAI models; others default to a safe 8192.
KNOWN_CONTEXT = {
    "gpt-4o": 128_000,
    "gpt-4o-mini": 128_000,
    "gpt-4.1": 1_000_000,
    "gpt-4-turbo": 128_000,
    "gpt-3.5-turbo": 16_385,
    "gpt-4": 8192,
}
EMBED_DIMENSIONS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072, "text-embedding-ada-002": 1536}

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
    from automuse_rag.redact import redact

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


def _sampling_kwargs(sampling: Sampling) -> dict[str, Any]:
    return dict(sampling.request_kwargs())


class OpenAIChatModel(Capabilities):
    """A chat model on an OpenAI-compatible server."""

    can_score = True  # when the server returns prompt log-probabilities (vLLM, llama.cpp)
    remote = True

    def __init__(self, settings: Settings, model: str | None = None) -> None:
        self.model = model or DEFAULT_CHAT_MODEL
        self.name = f"openai:{self.model}"
        self.base_url = base_url_of(settings)
        self.context_window = KNOWN_CONTEXT.get(self.model, min(int(settings.n_ctx), 8192))
        self.concurrency = max(1, int(settings.concurrency))
        # Answers depend on the server as much as on the model name.
        self.identity = f"{self.name}@{self.base_url.rstrip('/')}"
        self._caller = _Caller(settings, self.model)
        self._tokens = OpenAITokenCounter(self.model)
        self._structured_mode: str | None = None  # "json_schema" | "json_object" | "prompt"

    @property
    def attempts(self) -> int:
        return self._caller.attempts

    @property
    def token_method(self) -> str:
        return self._tokens.method

    def count_tokens(self, text: str) -> int:
        return self._tokens.count(text) if text else 0

    # -- chat -------------------------------------------------------------------
    def _create(self, messages: list[Message], sampling: Sampling, **extra: Any) -> Reply[None]:
        kwargs = {**_sampling_kwargs(sampling), **extra}
        response = self._caller(
            lambda: self._caller.client.chat.completions.create(model=self.model, messages=messages, **kwargs)
        )
        if not response.choices:
            raise ModelError(f"the server at {self._caller.url} returned no choices for model {self.model!r}")
        usage = response.usage
        return Reply(
            response.choices[0].message.content or "",
            Usage(int(getattr(usage, "prompt_tokens", 0) or 0), int(getattr(usage, "completion_tokens", 0) or 0)),
        )

    def complete(self, messages: list[Message], sampling: Sampling | None = None) -> Reply[None]:
        reply = self._create(messages, sampling or Sampling())
        return Reply(reply.text.strip(), reply.usage)

    def chat(self, messages: list[Message], sampling: Sampling | None = None) -> str:
        return self.complete(messages, sampling).text

    def complete_many(
        self, conversations: Sequence[list[Message]], sampling: Sampling | None = None, concurrency: int | None = None
    ) -> list[Reply[None]]:
        """Replies for many independent conversations, in order, with at most
        ``concurrency`` requests in flight (default: settings.concurrency)."""
        workers = max(1, concurrency or self.concurrency)
        if workers == 1 or len(conversations) <= 1:
            return [self.complete(m, sampling) for m in conversations]
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(lambda m: self.complete(m, sampling), conversations))

    def chat_many(
        self, conversations: Sequence[list[Message]], sampling: Sampling | None = None, concurrency: int | None = None
    ) -> list[str]:
        return [r.text for r in self.complete_many(conversations, sampling, concurrency)]

    # -- structured -------------------------------------------------------------
    def _formats(self, schema: type[BaseModel]) -> list[tuple[str, dict[str, Any] | None]]:
        json_schema = schema.model_json_schema()
        options = [
            ("json_schema", {"type": "json_schema", "json_schema": {"name": schema.__name__, "schema": json_schema}}),
            ("json_object", {"type": "json_object", "schema": json_schema}),
            ("prompt", None),
        ]
        if self._structured_mode is not None:
            options = [o for o in options if o[0] == self._structured_mode]
        return options

    def _structured_raw(self, messages: list[Message], schema: type[BaseModel], sampling: Sampling) -> Reply[None]:
        """The model's raw JSON, using the first response_format the server accepts."""
        last: ModelError | None = None
        for mode, fmt in self._formats(schema):
            msgs = messages if fmt is not None else _with_schema_instruction(messages, schema)
            extra = {"response_format": fmt} if fmt is not None else {}
            try:
                reply = self._create(msgs, sampling, **extra)
            except ModelError as exc:
                if getattr(exc, "status", None) in (400, 415, 422) or getattr(exc, "rejects_format", False):
                    last = exc
                    continue  # this server does not take that response_format: try the next
                raise
            self._structured_mode = mode
            return reply
        raise last or ModelError(f"the server at {self._caller.url} refused every structured-output format")

    def structured(self, messages: list[Message], schema: type[T], sampling: Sampling | None = None) -> T | None:
        return self.structured_reply(messages, schema, sampling).value

    def structured_reply(self, messages: list[Message], schema: type[T], sampling: Sampling | None = None) -> Reply[T]:
        """A validated ``schema`` object (``Reply.value``); invalid output is re-asked once
        with the validation error. The usage covers both attempts. max_tokens is raised
        to fit the longest answer the schema allows."""
        sampling = fit_max_tokens(sampling or Sampling(), schema.model_json_schema(), self.context_window // 2)
        first_reply = self._structured_raw(messages, schema, sampling)
        raw = first_reply.text
        try:
            return Reply(raw, first_reply.usage, schema.model_validate_json(_strip_fences(raw)))
        except ValidationError as first:
            retry = repair_messages(messages, raw, first, schema.model_json_schema())
            second_reply = self._structured_raw(retry, schema, sampling)
            raw2 = second_reply.text
            try:
                return Reply(raw2, first_reply.usage + second_reply.usage, schema.model_validate_json(_strip_fences(raw2)))
            except ValidationError as second:
                raise StructuredOutputError(
                    f"{self.name}'s output does not fit {schema.__name__} after a repair attempt: {first_error(second)}"
                ) from None

    # -- scoring ----------------------------------------------------------------
    def continuation_nll(self, context: str, continuation: str) -> tuple[float, int]:
        """Mean NLL per token of ``continuation`` from the server's prompt log-probabilities
        (``completions.create(echo=True, logprobs=1)``, as vLLM and a llama.cpp server
        started with logits_all support). Other servers: ModelError."""
        prompt = context + continuation
        try:
            response = self._caller(
                lambda: self._caller.client.completions.create(
                    model=self.model, prompt=prompt, echo=True, logprobs=1, max_tokens=1, temperature=0.0
                )
            )
        except ModelError as exc:
            raise ModelError(
                f"{self.name} at {self.base_url} does not return prompt log-probabilities ({exc}); "
                "use --llm local or a server with echo+logprobs support (e.g. vLLM)"
            ) from None
        lp = response.choices[0].logprobs if response.choices else None
        if lp is None or not lp.token_logprobs or not lp.text_offset:
            raise ModelError(f"{self.name} at {self.base_url} returned no prompt log-probabilities; use --llm local")
        start, end = len(context), len(prompt)
        values = [-float(v) for v, off in zip(lp.token_logprobs, lp.text_offset) if v is not None and start <= off < end]
        if not values:
            raise ModelError("the continuation got no scored tokens from the server")
        return sum(values) / len(values), len(values)


def _with_schema_instruction(messages: list[Message], schema: type[BaseModel]) -> list[Message]:
    instruction = "Answer with only one JSON object, no prose, matching this JSON schema:\n" + json.dumps(
        schema.model_json_schema(), ensure_ascii=False
    )
    return [*messages, {"role": "user", "content": instruction}]


def _strip_fences(raw: str) -> str:
    """Models without a JSON mode often wrap JSON in ```json fences."""
    text = raw.strip()
    if text.startswith("```"):
        text = text.split("\n", 1)[1] if "\n" in text else text[3:]
        text = text.rsplit("```", 1)[0]
    return text.strip()


class OpenAIEmbedder:
    """Embeddings from an OpenAI-compatible server; the dimension is learned from the
    first answer unless the model is a known OpenAI one."""

    def __init__(self, settings: Settings, model: str | None = None, batch_size: int = 256) -> None:
        self.model = model or DEFAULT_EMBED_MODEL
        self.name = f"openai:{self.model}"
        self.base_url = base_url_of(settings)
        self.batch_size = batch_size
        self._caller = _Caller(settings, self.model)
        self._dimension: int | None = EMBED_DIMENSIONS.get(self.model)

    @property
    def dimension(self) -> int:
        if self._dimension is None:
            self._dimension = len(self.embed(["dimension probe"])[0])
        return self._dimension

    def _create_embeddings(self, batch: list[str]) -> Any:
        return self._caller.client.embeddings.create(model=self.model, input=batch)

    def embed(self, texts: list[str]) -> list[list[float]]:
        out: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            batch = [t if t.strip() else " " for t in texts[start : start + self.batch_size]]
            # bound to this batch: the caller may run the request again on a retry
            response = self._caller(partial(self._create_embeddings, batch))
            rows = sorted(response.data, key=lambda d: d.index)
            out.extend([list(map(float, r.embedding)) for r in rows])
        if out and self._dimension is None:
            self._dimension = len(out[0])
        return out
