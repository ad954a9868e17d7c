"""Fine-tuning jobs in a story's manifest (``story.json``, key ``finetune_jobs``), so
``automuse stories`` shows what was tuned from each story.

One small function does the write: read the manifest, upsert the job by id, write it
atomically, all while holding the story's lock. Nothing else in the manifest changes.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from automuse_rag.errors import StoreError
from automuse_rag.settings import Settings

MANIFEST_KEY = "finetune_jobs"
LOCK_WAIT = 10.0  # seconds to wait for a story another process holds
FIELDS = ("id", "backend", "status", "model", "fine_tuned_model", "llm", "data", "created_at", "base_url", "out")


def record_job(settings: Settings, story: str, job: dict[str, Any]) -> dict[str, Any]:
    """Add ``job`` to ``story``'s manifest, or update the entry with the same id (only
    the keys in FIELDS, None values keep what was there). Returns the stored entry.
    Raises StoreError if the story does not exist or stays locked for LOCK_WAIT seconds."""
    from automuse_rag.fsutil import write_json_atomic
    from automuse_rag.memory.locking import StoryBusyError, StoryLock
    from automuse_rag.memory.story import MANIFEST, read_manifest, story_dir

    directory = story_dir(settings, story)
    read_manifest(directory)  # a clear error for a missing story, before taking its lock
    lock = StoryLock(directory, story)
    deadline = time.monotonic() + LOCK_WAIT
    while True:
        try:
            lock.acquire()
            break
        except StoryBusyError:
            if time.monotonic() > deadline:
                raise StoreError(f"story {story} is busy (another automuse process holds it); the job was not recorded there") from None
            time.sleep(0.2)
    try:
        manifest = read_manifest(directory)
        jobs = [j for j in manifest.get(MANIFEST_KEY, []) if isinstance(j, dict)]
        entry = next((j for j in jobs if j.get("id") == job.get("id")), None)
        if entry is None:
            entry = {"recorded_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
            jobs.append(entry)
        entry.update({k: job[k] for k in FIELDS if job.get(k) is not None})
        entry["updated_at"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        manifest[MANIFEST_KEY] = jobs
        write_json_atomic(directory / MANIFEST, manifest)
        return dict(entry)
    finally:
        lock.release()


def stories_with_job(settings: Settings, job_id: str) -> list[str]:
    """Names of the stories whose manifest records ``job_id``."""
    from automuse_rag.memory.story import list_stories

    return [
        m["name"] for m in list_stories(settings)
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
