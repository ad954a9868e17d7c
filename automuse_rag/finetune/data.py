"""Training data for ``automuse finetune local``: read a JSONL file, hold out a seeded
validation share, and turn each record into token ids with the point where the
completion (the only scored part) starts."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from automuse_rag.errors import InputError, ModelError
from automuse_rag.finetune.jsonl_check import CHAT, validate_file

MIN_PROMPT_TOKENS = 32  # a truncated example keeps at least this much context


@dataclass
class Example:
    ids: list[int]
    start: int  # index of the first completion token
    truncated: bool = False

    @property
    def scored(self) -> int:
        return len(self.ids) - self.start


def encode(tokenizer: Any, record: dict[str, Any], fmt: str, max_length: int) -> Example:
    """Token ids of one record and where its completion starts. Chat: the messages up
    to the last assistant turn are the prompt (rendered with the chat template and a
    generation prompt), that turn with its end marker the completion. Completion
    format: prompt + completion + EOS."""
    if fmt == CHAT:
        messages = [{"role": m["role"], "content": m["content"]} for m in record["messages"]]
        last = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
        prompt_text = tokenizer.apply_chat_template(messages[:last], tokenize=False, add_generation_prompt=True)
        full_text = tokenizer.apply_chat_template(messages[: last + 1], tokenize=False)
        if not full_text.startswith(prompt_text):
            raise ModelError("the chat template does not render the prompt as a prefix of the conversation")
        prompt = tokenizer(prompt_text, add_special_tokens=False)["input_ids"]
        completion = tokenizer(full_text[len(prompt_text) :].rstrip("\n"), add_special_tokens=False)["input_ids"]
    else:
        prompt = tokenizer(record["prompt"], add_special_tokens=False)["input_ids"]
        completion = tokenizer(record["completion"], add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    truncated = len(prompt) + len(completion) > max_length
    if truncated:
        completion = completion[: max_length - MIN_PROMPT_TOKENS]
        prompt = prompt[len(prompt) - (max_length - len(completion)) :]
    return Example(list(prompt) + list(completion), len(prompt), truncated)


def read_records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def split(records: list[Any], fraction: float, seed: int) -> tuple[list[Any], list[Any]]:
    """(train, validation): a seeded shuffle, ``round(n * fraction)`` held out (at least
    one when the fraction is positive and there are two records or more)."""
    order = list(range(len(records)))
    random.Random(seed).shuffle(order)
    size = round(len(records) * fraction)
    if fraction > 0 and len(records) >= 2:
        size = max(1, size)
    held = set(order[:size])
    return [r for i, r in enumerate(records) if i not in held], [r for i, r in enumerate(records) if i in held]


def prepare(
    data: Path,
    val: Path | None,
    tokenizer: Any,
    *,
    limit: int,
    max_length: int,
    val_fraction: float,
    val_max: int,
    seed: int,
) -> dict[str, Any]:
    """Validate the files and encode them: {"train", "val", "format", "truncated", ...}."""

    def count(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    checked = validate_file(data, count_tokens=count, limit=limit)
    records = read_records(data)
    if val is not None:
        validate_file(val, count_tokens=count, limit=limit, expect_format=checked.format)
        train_records, val_records = records, read_records(val)
    else:
        train_records, val_records = split(records, val_fraction, seed)
    if not train_records:
        raise InputError(f"{data}: no training examples left after holding out --val-fraction {val_fraction}")
    val_records = val_records[:val_max]
    train = [encode(tokenizer, r, checked.format, max_length) for r in train_records]
    held = [encode(tokenizer, r, checked.format, max_length) for r in val_records]
    return {
        "train": train,
        "val": held,
        "format": checked.format,
        "audit": checked.audit,
        "stories": checked.stories,
        "truncated": sum(e.truncated for e in train + held),
    }
