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
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from automuse_rag.errors import ModelError, StructuredOutputError
from automuse_rag.models.base import Capabilities, Message, Reply, Sampling, Usage
from automuse_rag.models.openai_client import (
    _Caller,
    base_url_of as base_url_of,
    make_client as make_client,
    retry_after as retry_after,
    translate_error as translate_error,
)
from automuse_rag.models.structured import first_error, fit_max_tokens, repair_messages
from automuse_rag.models.tokens import OpenAITokenCounter
from automuse_rag.settings import Settings

T = TypeVar("T", bound=BaseModel)

DEFAULT_CHAT_MODEL = "gpt-4o-mini"
DEFAULT_EMBED_MODEL = "text-embedding-3-small"

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
