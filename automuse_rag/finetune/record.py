"""Fine-tuning jobs in a story's manifest (in its ``state.sqlite``, exported to
``story.json``; key ``finetune_jobs``), so ``automuse stories`` shows what was tuned
from each story.

One small function does the write: upsert the job by id in the manifest while
holding the story's lock (:func:`automuse_rag.memory.catalog.update_manifest`).
Nothing else in the manifest changes.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from automuse_rag.errors import StoreError
from automuse_rag.memory.catalog import list_stories, update_manifest
from automuse_rag.settings import Settings

MANIFEST_KEY = "finetune_jobs"
LOCK_WAIT = 10.0  # seconds to wait for a story another process holds
FIELDS = ("id", "backend", "status", "model", "fine_tuned_model", "llm", "data", "created_at", "base_url", "out")


def record_job(settings: Settings, story: str, job: dict[str, Any]) -> dict[str, Any]:
    """Add ``job`` to ``story``'s manifest (kept in its ``state.sqlite``, exported to
    ``story.json``), or update the entry with the same id (only the keys in FIELDS,
    None values keep what was there). Returns the stored entry. Raises StoreError if
    the story does not exist or stays locked for LOCK_WAIT seconds."""
    stored: dict[str, Any] = {}

    def change(manifest: dict[str, Any]) -> None:
        jobs = [j for j in manifest.get(MANIFEST_KEY, []) if isinstance(j, dict)]
        entry = next((j for j in jobs if j.get("id") == job.get("id")), None)
        if entry is None:
            entry = {"recorded_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
            jobs.append(entry)
        entry.update({k: job[k] for k in FIELDS if job.get(k) is not None})
        entry["updated_at"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        manifest[MANIFEST_KEY] = jobs
        stored.update(entry)

    update_manifest(settings, story, change, wait=LOCK_WAIT)
    return dict(stored)


def stories_with_job(settings: Settings, job_id: str) -> list[str]:
    """Names of the stories whose manifest records ``job_id``."""
    return [
        m["name"]
        for m in list_stories(settings)
        if m.get("name") and any(j.get("id") == job_id for j in m.get(MANIFEST_KEY, []) if isinstance(j, dict))
    ]


def record_everywhere(settings: Settings, stories: Iterable[str], job: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Record ``job`` in each story; (recorded, problems) where a problem is one line."""
    done, problems = [], []
    for story in dict.fromkeys(stories):
        try:
            record_job(settings, story, job)
            done.append(story)
        except StoreError as exc:
            problems.append(str(exc))
    return done, problems


def summarize_jobs(jobs: list[dict[str, Any]]) -> str:
    """The ``tuned`` cell of ``automuse stories``: how many fine-tunes (details below the table)."""
    return str(len(jobs)) if jobs else ""


def job_lines(story: str, jobs: list[dict[str, Any]]) -> list[str]:
    """One line per job for under the ``automuse stories`` table, with the ``--llm``
    value of each finished one (too long for a table cell)."""
    lines = []
    for job in jobs:
        where = f"--llm {job['llm']}" if job.get("llm") else f"automuse finetune follow {job.get('id')}"
        lines.append(f"{story}: {job.get('backend', '?')} fine-tune {job.get('id')} {job.get('status') or '?'}: {where}")
    return lines
