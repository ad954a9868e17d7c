"""Check a fine-tuning JSONL file on this machine before anything is uploaded or trained.

Each line must be one JSON object in one format for the whole file: chat
(``{"messages": [{"role", "content"}, ...]}`` with system/user/assistant roles, no
empty turn and at least one assistant turn) or prompt/completion (``{"prompt",
"completion"}``, both strings, the completion not empty). Every example must fit the
base model's per-example token limit. When the file came from ``automuse dataset``
its sidecar (``NAME.meta.json``) carries the leakage audit's verdict: a failed audit
refuses the file; a file edited since the export is reported as unaudited.

The first problem found raises :class:`DatasetInvalidError`, one line naming the file,
the line and the reason, so an invalid file never leaves the machine.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from automuse_rag.assemble.budget import CountTokens
from automuse_rag.errors import InputError
from automuse_rag.finetune.dataset import file_sha256

ROLES = ("system", "user", "assistant")
CHAT, COMPLETION = "chat", "completion"
# Per-message overhead of the chat format (role markers), as OpenAI counts it.
MESSAGE_OVERHEAD = 4
# OpenAI's documented minimum number of training examples.
OPENAI_MIN_EXAMPLES = 10
# Tokens per training example for OpenAI's fine-tunable models (their documented
# training context); an unknown model (another compatible server) gets DEFAULT_LIMIT.
EXAMPLE_LIMITS = {
    "gpt-4.1": 65_536,
    "gpt-4.1-mini": 65_536,
    "gpt-4.1-nano": 65_536,
    "gpt-4o": 65_536,
    "gpt-4o-mini": 65_536,
    "gpt-3.5-turbo": 16_385,
    "babbage-002": 16_384,
    "davinci-002": 16_384,
}
DEFAULT_LIMIT = 16_384
COMPLETION_ONLY_MODELS = ("babbage-002", "davinci-002")


class DatasetInvalidError(InputError):
    """A training file that would be rejected (or would train the wrong thing)."""


@dataclass
class Validation:
    """What a valid file holds, for the command's summary and the job record."""

    path: str
    format: str
    examples: int
    tokens: int
    max_tokens: int
    limit: int
    audit: str  # "passed" | "not from automuse dataset" | "file changed since export"
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def stories(self) -> list[str]:
        return list(self.meta.get("stories") or [])

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def example_limit(model: str) -> int:
    """The per-example token limit for fine-tuning ``model`` (dated snapshots such as
    ``gpt-4o-mini-2024-07-18`` take their family's limit)."""
    name = model.removeprefix("ft:")
    for family in sorted(EXAMPLE_LIMITS, key=len, reverse=True):
        if name == family or name.startswith(family + "-"):
            return EXAMPLE_LIMITS[family]
    return DEFAULT_LIMIT


def _bad(path: Path, line: int, why: str) -> DatasetInvalidError:
    return DatasetInvalidError(f"{path} line {line}: {why}")


def _chat_tokens(path: Path, line: int, record: dict[str, Any], count: CountTokens) -> int:
    messages = record["messages"]
    if not isinstance(messages, list) or not messages:
        raise _bad(path, line, "'messages' must be a non-empty list")
    total = 3  # every reply is primed with the assistant marker
    assistants = 0
    for n, message in enumerate(messages, 1):
        if not isinstance(message, dict):
            raise _bad(path, line, f"message {n} is not an object")
        role = message.get("role")
        if role not in ROLES:
            raise _bad(path, line, f"message {n} has role {role!r} (expected one of {', '.join(ROLES)})")
        content = message.get("content")
        if not isinstance(content, str):
            raise _bad(path, line, f"message {n} ({role}) has no text content")
        if not content.strip():
            raise _bad(path, line, f"message {n} ({role}) is empty")
        weight = message.get("weight")
        if weight is not None and (role != "assistant" or weight not in (0, 1)):
            raise _bad(path, line, f"message {n} has weight {weight!r} (only 0 or 1, on assistant messages)")
        assistants += role == "assistant"
        total += MESSAGE_OVERHEAD + count(content)
    if not assistants:
        raise _bad(path, line, "no assistant message (nothing to learn from)")
    return total


def _completion_tokens(path: Path, line: int, record: dict[str, Any], count: CountTokens) -> int:
    prompt, completion = record.get("prompt"), record.get("completion")
    if not isinstance(prompt, str) or not isinstance(completion, str):
        raise _bad(path, line, "'prompt' and 'completion' must both be strings")
    if not completion.strip():
        raise _bad(path, line, "the completion is empty")
    return count(prompt) + count(completion)


def _format_of(path: Path, line: int, record: Any) -> str:
    if not isinstance(record, dict):
        raise _bad(path, line, f"not a JSON object (got {type(record).__name__})")
    if "messages" in record:
        return CHAT
    if "prompt" in record or "completion" in record:
        return COMPLETION
    keys = ", ".join(sorted(record)) or "none"
    raise _bad(path, line, f"neither chat ('messages') nor prompt/completion (keys: {keys})")


def find_meta(path: Path) -> tuple[Path | None, dict[str, Any]]:
    """The ``automuse dataset`` sidecar for ``path`` (``x.jsonl`` and ``x.val.jsonl``
    both belong to ``x.meta.json``) and its content, or (None, {})."""
    stem = path.stem
    candidates = [path.with_name(stem + ".meta.json")]
    if stem.endswith(".val"):
        candidates.append(path.with_name(stem[: -len(".val")] + ".meta.json"))
    for candidate in candidates:
        if candidate.is_file():
            try:
                meta = json.loads(candidate.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise DatasetInvalidError(f"cannot read the dataset's sidecar {candidate}: {exc}") from None
            if isinstance(meta, dict) and path.name in (meta.get("files") or {}):
                return candidate, meta
    return None, {}


def audit_verdict(path: Path) -> tuple[str, dict[str, Any]]:
    """The leakage audit's verdict for ``path``. Raises for a failed audit."""
    meta_file, meta = find_meta(path)
    if meta_file is None:
        return "not from automuse dataset", {}
    if meta.get("audit") != "passed" or meta.get("leakage_violations"):
        raise DatasetInvalidError(
            f"{path}: the leakage audit of automuse dataset failed ({meta.get('leakage_violations')} violations, "
            f"see {meta_file}); fix the stores and export again"
        )
    if meta["files"][path.name] != file_sha256(path):
        return "file changed since export", meta
    return "passed", meta


def validate_file(
    path: Path,
    *,
    count_tokens: CountTokens,
    limit: int,
    model: str = "",
    min_examples: int = 1,
    expect_format: str | None = None,
) -> Validation:
    """Check every line of ``path``; return what it holds or raise DatasetInvalidError.

    ``model`` refuses chat files for completion-only base models and the reverse;
    ``expect_format`` makes a validation file match its training file."""
    path = Path(path)
    if not path.is_file():
        raise DatasetInvalidError(f"no such file: {path}")
    fmt: str | None = expect_format
    first_line = 0
    examples = total = biggest = 0
    try:
        handle = path.open("r", encoding="utf-8")
    except OSError as exc:
        raise DatasetInvalidError(f"cannot read {path}: {exc}") from None
    with handle:
        try:
            lines = list(handle)
        except UnicodeDecodeError as exc:
            raise DatasetInvalidError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            if number == len(lines):
                continue
            raise _bad(path, number, "empty line (one JSON object per line)")
        try:
            record = json.loads(raw)
        except ValueError as exc:
            raise _bad(path, number, f"not valid JSON ({exc})") from None
        kind = _format_of(path, number, record)
        if fmt is None:
            fmt, first_line = kind, number
        elif kind != fmt:
            where = f"line {first_line}" if first_line else "the training file"
            raise _bad(path, number, f"a {kind} record, but {where} is {fmt}; use one format per file")
        tokens = (_chat_tokens if kind == CHAT else _completion_tokens)(path, number, record, count_tokens)
        if tokens > limit:
            raise _bad(
                path, number, f"{tokens:,} tokens, over the limit of {limit:,} per example{f' for {model}' if model else ''}"
            )
        examples += 1
        total += tokens
        biggest = max(biggest, tokens)
    if examples == 0:
        raise DatasetInvalidError(f"{path} holds no examples")
    if examples < min_examples:
        raise DatasetInvalidError(f"{path} holds {examples} examples; fine-tuning needs at least {min_examples}")
    base = model.removeprefix("ft:")
    if model and fmt == CHAT and base.startswith(COMPLETION_ONLY_MODELS):
        raise DatasetInvalidError(
            f"{path} is in chat format but {model} takes prompt/completion (automuse dataset --format completion)"
        )
    if model and fmt == COMPLETION and base.startswith(tuple(EXAMPLE_LIMITS)) and not base.startswith(COMPLETION_ONLY_MODELS):
        raise DatasetInvalidError(
            f"{path} is in prompt/completion format but {model} is a chat model (automuse dataset --format chat)"
        )
    audit, meta = audit_verdict(path)
    assert fmt is not None
    return Validation(str(path), fmt, examples, total, biggest, limit, audit, meta)
