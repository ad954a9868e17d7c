"""Fine-tuning jobs on OpenAI (or any server with the same API) through the ``openai`` client.

:class:`FineTuneAPI` uploads a training file (purpose ``fine-tune``), creates, reads,
lists and cancels jobs and reads their events; :meth:`FineTuneAPI.follow` polls a job
until it ends. Transient failures (connection errors, timeouts, 5xx, 429 rate limits
that are not an exhausted quota) are retried with exponential backoff; what still
fails becomes one :class:`~automuse_rag.errors.ModelError` line saying how to fix it:
a missing or rejected key, an exhausted quota, an unknown base model, an unknown job.
A job that ends ``failed`` raises :class:`JobFailedError` with the job's own error.
"""

from __future__ import annotations

import builtins
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from automuse_rag.errors import ModelError
from automuse_rag.models.openai_backend import base_url_of, make_client, translate_error
from automuse_rag.settings import Settings
from automuse_rag.text import clip

R = TypeVar("R")
TERMINAL = frozenset({"succeeded", "failed", "cancelled"})
POLL_SECONDS = 10.0  # between status checks while following (AUTOMUSE_FINETUNE_POLL)
EVENTS_PAGE = 100
_KEY_VARS = "OPENAI_API_KEY / AUTOMUSE_OPENAI_API_KEY"


class JobFailedError(ModelError):
    """A fine-tuning job ended ``failed`` (or ``cancelled``) on the server."""

    exit_code = 1


@dataclass
class JobInfo:
    """The parts of a ``fine_tuning.job`` this tool shows and records."""

    id: str
    status: str
    model: str
    fine_tuned_model: str | None = None
    trained_tokens: int | None = None
    error: str | None = None
    created_at: int | None = None
    finished_at: int | None = None
    estimated_finish: int | None = None
    training_file: str | None = None
    validation_file: str | None = None
    epochs: Any = None
    base_url: str = ""

    @classmethod
    def of(cls, job: Any, base_url: str) -> JobInfo:
        err = getattr(job, "error", None)
        message = None
        if err is not None and (getattr(err, "message", None) or getattr(err, "code", None)):
            code = getattr(err, "code", None)
            message = f"{code}: {err.message}" if code else str(err.message)
        hyper = getattr(job, "hyperparameters", None)
        return cls(
            id=job.id,
            status=job.status,
            model=job.model,
            fine_tuned_model=job.fine_tuned_model,
            trained_tokens=job.trained_tokens,
            error=message,
            created_at=job.created_at,
            finished_at=job.finished_at,
            estimated_finish=getattr(job, "estimated_finish", None),
            training_file=job.training_file,
            validation_file=job.validation_file,
            epochs=getattr(hyper, "n_epochs", None) if hyper is not None else None,
            base_url=base_url,
        )

    @property
    def done(self) -> bool:
        return self.status in TERMINAL

    @property
    def llm(self) -> str | None:
        """The ``--llm`` value that writes with the tuned model."""
        return f"openai:{self.fine_tuned_model}" if self.fine_tuned_model else None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "llm": self.llm}


@dataclass
class Event:
    id: str
    created_at: int
    level: str
    message: str
    data: dict[str, Any] = field(default_factory=dict)


def _quota(exc: Any) -> bool:
    text = f"{getattr(exc, 'code', '')} {getattr(exc, 'message', '')}".lower()
    return "insufficient_quota" in text or "quota" in text or "billing" in text


def _retryable(exc: BaseException) -> bool:
    import openai

    if isinstance(exc, openai.RateLimitError):
        return not _quota(exc)
    if isinstance(exc, (openai.APITimeoutError, openai.APIConnectionError)):
        return True
    return isinstance(exc, openai.APIStatusError) and exc.status_code >= 500


class FineTuneAPI:
    """The fine-tuning endpoints of one server (``OPENAI_BASE_URL`` or api.openai.com)."""

    def __init__(self, settings: Settings) -> None:
        self.url = base_url_of(settings)
        self.max_retries = max(0, int(settings.openai_max_retries))
        self.client = make_client(settings)

    # -- calls ------------------------------------------------------------------
    def _call(self, fn: Callable[[], R], *, model: str = "", job: str = "") -> R:
        import openai
        from tenacity import (
            Retrying,
            retry_if_exception,
            stop_after_attempt,
            wait_exponential_jitter,
        )

        retrying = Retrying(
            retry=retry_if_exception(_retryable),
            stop=stop_after_attempt(self.max_retries + 1),
            wait=wait_exponential_jitter(initial=0.5, max=20.0),
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    return fn()
        except openai.OpenAIError as exc:
            raise self._translate(exc, model, job) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _translate(self, exc: Any, model: str, job: str) -> ModelError:
        import openai

        message = clip(getattr(exc, "message", "") or str(exc), 240, "...")
        if isinstance(exc, openai.AuthenticationError):
            return ModelError(f"the server at {self.url} rejected the API key (401; set {_KEY_VARS})")
        if isinstance(exc, openai.RateLimitError):
            if _quota(exc):
                return ModelError(f"quota exhausted at {self.url}: {message} (check the account's plan and billing)")
            return ModelError(
                f"the server at {self.url} kept rate-limiting (429) after {self.max_retries} retries; try again later"
            )
        if (
            isinstance(exc, openai.APIStatusError)
            and model
            and (
                getattr(exc, "param", None) == "model"
                or getattr(exc, "code", None) == "model_not_found"
                or (exc.status_code == 404 and not job)
            )
        ):
            return ModelError(f"base model {model!r} cannot be fine-tuned at {self.url}: {message}")
        if isinstance(exc, openai.NotFoundError) and job:
            return ModelError(f"no fine-tuning job {job!r} at {self.url} (automuse finetune list shows the jobs)")
        if isinstance(exc, openai.APIStatusError):
            return ModelError(f"the server at {self.url} answered HTTP {exc.status_code}: {message}")
        return translate_error(exc, self.url, model or job)

    # -- files and jobs ---------------------------------------------------------
    def upload(self, path: Path) -> str:
        """Upload a JSONL file with purpose ``fine-tune``; its file id."""

        def send() -> Any:
            with Path(path).open("rb") as fh:
                return self.client.files.create(file=(Path(path).name, fh.read()), purpose="fine-tune")

        return str(self._call(send).id)

    def delete_file(self, file_id: str) -> bool:
        """Remove an uploaded file (after a job could not be created); False if that fails."""
        import openai

        try:
            self.client.files.delete(file_id)
            return True
        except openai.OpenAIError:
            return False

    def create(
        self,
        *,
        model: str,
        training_file: str,
        validation_file: str | None = None,
        suffix: str | None = None,
        epochs: int | None = None,
        seed: int | None = None,
        metadata: dict[str, str] | None = None,
    ) -> JobInfo:
        """Create a supervised fine-tuning job."""
        kwargs: dict[str, Any] = {"model": model, "training_file": training_file}
        if validation_file:
            kwargs["validation_file"] = validation_file
        if suffix:
            kwargs["suffix"] = suffix
        if seed is not None:
            kwargs["seed"] = seed
        if metadata:
            kwargs["metadata"] = metadata
        if epochs is not None:
            kwargs["method"] = {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": epochs}}}
        job = self._call(lambda: self.client.fine_tuning.jobs.create(**kwargs), model=model)
        return JobInfo.of(job, self.url)

    def retrieve(self, job_id: str) -> JobInfo:
        return JobInfo.of(self._call(lambda: self.client.fine_tuning.jobs.retrieve(job_id), job=job_id), self.url)

    def list(self, limit: int = 20) -> list[JobInfo]:
        page = self._call(lambda: self.client.fine_tuning.jobs.list(limit=limit))
        return [JobInfo.of(job, self.url) for job in page.data]

    def cancel(self, job_id: str) -> JobInfo:
        return JobInfo.of(self._call(lambda: self.client.fine_tuning.jobs.cancel(job_id), job=job_id), self.url)

    def events(self, job_id: str, limit: int = EVENTS_PAGE) -> builtins.list[Event]:  # `list` is a method here
        """The job's latest events, oldest first."""
        page = self._call(lambda: self.client.fine_tuning.jobs.list_events(job_id, limit=limit), job=job_id)
        events = [
            Event(e.id, int(e.created_at), str(e.level), str(e.message), dict(e.data) if isinstance(e.data, dict) else {})
            for e in page.data
        ]
        return sorted(events, key=lambda e: (e.created_at, e.id))

    def follow(
        self,
        job_id: str,
        *,
        on_event: Callable[[Event], None] | None = None,
        on_status: Callable[[JobInfo], None] | None = None,
        poll: float = POLL_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> JobInfo:
        """Poll ``job_id`` until it ends, reporting each new event and status. Returns
        the final job; a ``failed`` or ``cancelled`` job raises JobFailedError."""
        seen: set[str] = set()
        while True:
            job = self.retrieve(job_id)
            for event in self.events(job_id):
                if event.id not in seen:
                    seen.add(event.id)
                    if on_event:
                        on_event(event)
            if on_status:
                on_status(job)
            if job.done:
                break
            sleep(poll)
        raise_if_failed(job)
        return job


def raise_if_failed(job: JobInfo) -> None:
    """JobFailedError for a failed or cancelled job, with the job's own error."""
    if job.status == "failed":
        raise JobFailedError(f"fine-tuning job {job.id} failed: {job.error or 'the server gave no reason'}")
    if job.status == "cancelled":
        raise JobFailedError(f"fine-tuning job {job.id} was cancelled")
