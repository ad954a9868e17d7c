"""Measured capabilities: can this model return valid structured lore?

A backend may *declare* structured output (``can_structure``) and still be too small
to fill ingest's lore schema sensibly (the embedded SmolLM2-135M). The lore probe
asks the model for the lore of a few fixed passages through exactly the call ingest
makes, and counts the answers that validate and whose summary matches the passage.
The result is recorded per model identity (server URL / model file) in
``stores/.cache/capabilities.json``, so each model is probed once.

``AUTOMUSE_LORE_MODE`` decides what ingest does: ``auto`` (the default) uses the
recorded probe (probing a local model the first time; a server is trusted until a
probe says otherwise), ``model`` always asks the model, ``extractive`` never does.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from automuse_rag.errors import AutomuseError, StructuredOutputError
from automuse_rag.lore.extract import lore_reply_problem, request_lore
from automuse_rag.models.base import (
    ChatModel,
    capable,
    identity_of,
    sampling_from_settings,
)
from automuse_rag.redact import redact
from automuse_rag.settings import Settings
from automuse_rag.text.types import Chunk

PROBE_VERSION = 2  # bump when the probe or the lore schema changes: old records are ignored
LORE_MODES = ("auto", "model", "extractive")

# Fixed passages (written for the probe) with the names a tagger would find in them.
PASSAGES: tuple[tuple[str, list[str]], ...] = (
    (
        "Margaret Hale walked down to the harbour with her brother Frederick before dawn. The fishing boats "
        'were already out, and old Captain Lennox stood on the pier, watching the grey water. "The storm '
        'will reach Milton by nightfall," he told them. Frederick promised to bring the boat into the cove, '
        "but Margaret feared the rocks below the lighthouse.",
        ["Margaret Hale", "Frederick", "Captain Lennox", "Milton"],
    ),
    (
        "In the library of Thornfield Hall, Edward Rochester showed Jane the letter that had come from "
        "Madeira. It was from her uncle, John Eyre, and it spoke of a fortune. Jane read it twice by the "
        "fire while Rochester paced the room. She folded it into her pocket and said nothing of it to "
        "Mrs Fairfax at supper.",
        ["Thornfield Hall", "Edward Rochester", "Jane", "Madeira", "John Eyre", "Mrs Fairfax"],
    ),
)


@dataclass
class LoreProbe:
    """The probe's result for one model."""

    model: str  # identity, credentials masked
    lore: bool  # every probe passage got valid lore
    valid: int
    total: int
    detail: str
    seconds: float
    checked: float
    version: int = PROBE_VERSION

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def probe_lore(llm: ChatModel, settings: Settings) -> LoreProbe:
    """Ask ``llm`` for the lore of each probe passage, as ingest does."""
    start = time.perf_counter()
    sampling = sampling_from_settings(settings)
    valid, problems = 0, []
    for i, (text, hints) in enumerate(PASSAGES):
        chunk = Chunk(index=i, id=f"probe-{i}", chapter=1, chapter_title="", start=0, end=len(text), text=text)
        try:
            reply = request_lore(llm, chunk, hints, sampling)
        except StructuredOutputError as exc:
            problems.append(f"invalid JSON: {exc}")
            continue
        except AutomuseError as exc:
            problems.append(str(exc))
            continue
        problem = "no structured output" if reply is None else lore_reply_problem(reply, chunk)
        if problem:
            problems.append(problem)
        else:
            valid += 1
    total = len(PASSAGES)
    detail = f"{valid}/{total} probe passages got valid lore" + (f"; first problem: {problems[0]}" if problems else "")
    return LoreProbe(
        redact(identity_of(llm)),
        valid == total,
        valid,
        total,
        redact(detail)[:300],
        round(time.perf_counter() - start, 2),
        time.time(),
    )


def capabilities_path(settings: Settings) -> Path:
    return settings.cache_path.parent / "capabilities.json"


def _key(llm: ChatModel) -> str:
    return hashlib.sha256(identity_of(llm).encode("utf-8")).hexdigest()[:24]


def _load(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def recorded(settings: Settings, llm: ChatModel) -> LoreProbe | None:
    """The recorded probe of this model identity (None if never probed, or by an older probe)."""
    entry = _load(capabilities_path(settings)).get(_key(llm))
    if not isinstance(entry, dict) or entry.get("version") != PROBE_VERSION:
        return None
    try:
        return LoreProbe(**entry)
    except TypeError:
        return None


def record(settings: Settings, llm: ChatModel, probe: LoreProbe) -> None:
    """Remember ``probe`` for this model identity (atomic replace; a failure to write is
    not an error: the model is just probed again next time)."""
    path = capabilities_path(settings)
    data = _load(path)
    data[_key(llm)] = probe.as_dict()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass


def probe_and_record(settings: Settings, llm: ChatModel) -> LoreProbe:
    probe = probe_lore(llm, settings)
    if capable(llm, "cacheable"):  # a scripted test double has no stable identity
        record(settings, llm, probe)
    return probe


def lore_mode(settings: Settings, llm: ChatModel | None) -> tuple[Literal["model", "extractive"], str | None]:
    """``("model" | "extractive", note)``: how ingest analyses chunks with ``llm``, and a
    one-line note to show when a model that could be asked is not."""
    if not capable(llm, "can_structure"):
        return "extractive", None
    assert llm is not None
    mode = settings.lore_mode
    if mode != "auto":
        return mode, None
    probe = recorded(settings, llm)
    if probe is None:
        if capable(llm, "remote"):
            return "model", None  # servers are trusted until `automuse doctor` records otherwise
        probe = probe_and_record(settings, llm)
    if probe.lore:
        return "model", None
    return "extractive", (
        f"note: {llm.name} cannot return valid structured lore ({probe.detail}); ingest uses extractive "
        "summaries, NER lore and parsed relations instead (AUTOMUSE_LORE_MODE=model forces the model)"
    )
