"""The files of a generated story besides its store: ``premise.txt``,
``generation.json`` (:class:`GenerationState`), ``rejections.jsonl`` and
``manuscript.md``. All but the rejection log are rewritten atomically."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from automuse_rag.errors import InputError, StoreError
from automuse_rag.fsutil import write_text_atomic
from automuse_rag.generate.plan import MANUSCRIPT_FALLBACK_NOTE, Plan
from automuse_rag.manuscript import manuscript_from_records, render_md
from automuse_rag.memory.catalog import Manifest

STATE_FILE = "generation.json"
REJECTIONS_FILE = "rejections.jsonl"
PREMISE_FILE = "premise.txt"
MANUSCRIPT_FILE = "manuscript.md"


def read_premise(spec: str) -> str:
    """The premise: the text of file ``spec`` if it names one, else ``spec`` itself."""
    path = Path(spec).expanduser()
    try:
        is_file = len(spec) < 4096 and "\n" not in spec and path.is_file()
    except OSError:
        is_file = False
    if is_file:
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read the premise file {path}: {exc}") from None
    else:
        if len(spec.split()) < 3 and ("/" in spec or spec.endswith(".txt")):
            raise InputError(f"premise file not found: {spec}")
        text = spec
    text = " ".join(text.split())
    if len(text.split()) < 5:
        raise InputError("the premise is too short: give a few sentences (a text or a file holding them)")
    return text


def check_premise(directory: Path, premise: str) -> None:
    """Record the premise on first run; refuse a different one for the same story,
    and refuse a store that holds an ingested book."""
    if (directory / "state.sqlite").is_file() or (directory / "story.json").is_file():
        try:
            generated = Manifest.read(directory).generated
        except StoreError:
            generated = False
        if not generated:
            raise StoreError(f"story {directory.name} holds an ingested book, not a generated story; use another --story")
    path = directory / PREMISE_FILE
    if path.exists():
        old = " ".join(path.read_text(encoding="utf-8").split())
        if old != premise:
            raise InputError(
                f"story {directory.name} was started from another premise (see {path}); "
                "use a new --story, or the same premise to continue"
            )
    else:
        directory.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, premise + "\n")


# -- state on disk ---------------------------------------------------------------------


class GenerationState(BaseModel):
    """``generation.json``: where the loop stands (rewritten after each commit). The
    store is the truth; this only records the chapter decided for the next chunk."""

    model_config = ConfigDict(extra="allow")

    story: str = ""
    chunks_done: int = 0
    chunks_target: int = 0
    next_chapter_after: int = -1  # the index of the last chunk when next_chapter was decided
    next_chapter: int | None = None
    rejections: int = 0
    words: int = 0
    llm: str = ""
    updated: str = ""


def read_state(directory: Path) -> GenerationState | None:
    """The state file, or None when it is missing or damaged (rebuilt from the store)."""
    try:
        return GenerationState.model_validate_json((directory / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):  # pydantic's ValidationError is a ValueError
        return None


def write_state(directory: Path, state: GenerationState) -> None:
    write_text_atomic(directory / STATE_FILE, json.dumps(state.model_dump(), indent=1, sort_keys=True))


def log_rejection(directory: Path, entry: dict[str, Any]) -> None:
    with open(directory / REJECTIONS_FILE, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry, ensure_ascii=False) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def read_rejections(directory: Path) -> list[dict[str, Any]]:
    """Every logged rejection (a line cut short by a kill is skipped)."""
    out: list[dict[str, Any]] = []
    try:
        lines = (directory / REJECTIONS_FILE).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return out
    for line in lines:
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def write_manuscript_file(directory: Path, plan: Plan, records: list[Any]) -> Path:
    """``manuscript.md``, with a note under the title when the plan fell back."""
    path = directory / MANUSCRIPT_FILE
    ms = manuscript_from_records(plan.title or directory.name, records)
    ms.note = MANUSCRIPT_FALLBACK_NOTE if plan.fallback else ""
    write_text_atomic(path, render_md(ms))
    return path
