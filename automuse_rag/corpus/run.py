"""A corpus ingest on Ray: many books, each its own story, on a pool of worker actors.

The driver (this process) expands the SPECs, skips the books a run already finished,
and starts (or joins) Ray: a local instance sized to the machine by default, the
cluster at ``--ray-address`` / ``RAY_ADDRESS`` when given. The workers are
:class:`~automuse_rag.corpus.work.BookWorker` actors, each loading its models once;
Ray restarts a worker process that dies and retries its task (``max_restarts``,
``max_task_retries``). The driver hands them tasks the way ``ray.util.ActorPool``
does (an idle actor takes the next task), oldest book first, and keeps which book
each answer is for, so that a task that still fails after Ray's retries fails its
book only. Each book's :class:`~automuse_rag.corpus.commit.Committer` writes its
store in chunk order as the answers come in: one writer per store.

``import ray`` happens here, inside :func:`run_corpus`, and nowhere else."""

from __future__ import annotations

import contextlib
import heapq
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from automuse_rag.books import fetch
from automuse_rag.corpus.commit import BookResult, Committer, finished_manifest
from automuse_rag.corpus.specs import BookSpec
from automuse_rag.corpus.work import Answer, BookWorker, LoreMode, WorkerConfig
from automuse_rag.errors import AutomuseError, InputError
from automuse_rag.models.base import ChatModel, Embedder
from automuse_rag.settings import Settings
from automuse_rag.text.types import Book, Chunk

#: Chunks per analysis task when the model is not asked (one commit group).
EXTRACTIVE_RUN = 16
#: Worker restarts allowed per actor, and retries per task (a task that kills its
#: worker this many times fails its book).
MAX_RESTARTS = -1
MAX_TASK_RETRIES = 3


@dataclass
class CorpusOptions:
    workers: int | None = None  # None: one per CPU of the Ray cluster
    ray_address: str | None = None
    no_cache: bool = False
    size: int | None = None
    mirror: str | None = None


@dataclass
class CorpusReport:
    """What a run did: one result per book, and the run's figures."""

    books: list[BookResult]
    workers: int
    seconds: float
    lore: str
    commit_seconds: float = 0.0
    note: str | None = None
    ray_address: str = ""

    @property
    def failed(self) -> list[BookResult]:
        return [b for b in self.books if b.status == "failed"]

    def as_dict(self) -> dict[str, Any]:
        chunks = sum(b.new_chunks for b in self.books)
        return {
            "books": [b.as_dict() for b in self.books],
            "workers": self.workers,
            "seconds": self.seconds,
            "lore": self.lore,
            "chunks": chunks,
            "chunks_per_second": chunks / self.seconds if self.seconds else 0.0,
            "commit_seconds": self.commit_seconds,
            "failed": len(self.failed),
            "ray_address": self.ray_address,
        }


@dataclass
class Events:
    """What the caller is told as the run goes (all optional)."""

    progress: Callable[[int, int, int, int], None] | None = None  # (books done, books, chunks done, chunks known)
    book_done: Callable[[BookResult], None] | None = None
    note: Callable[[str], None] | None = None


@dataclass(order=True)
class _Task:
    book: int  # the book's position: older books first
    seq: int
    method: str = field(compare=False)
    args: tuple[Any, ...] = field(compare=False)
    kind: str = field(compare=False)  # "prepare", "analyse", "outline"
    run: int = field(default=0, compare=False)


def run_corpus(
    settings: Settings,
    books: list[BookSpec],
    options: CorpusOptions,
    *,
    llm: ChatModel | None,
    embedder: Embedder,
    events: Events | None = None,
) -> CorpusReport:
    """Ingest ``books`` on Ray; every store equals what ``automuse ingest`` of that book
    alone writes. A book that fails is a failed result; the others finish."""
    import time

    import ray as ray_module

    ray: Any = ray_module  # untyped where it matters (remote classes and methods)
    events = events or Events()
    started = time.monotonic()
    size = options.size or settings.chunk_size
    results: dict[str, BookResult] = {}
    todo: list[BookSpec] = []
    for book in books:
        manifest = finished_manifest(settings, book, size, embedder)
        if manifest is None:
            todo.append(book)
            continue
        results[book.name] = BookResult(
            book.name,
            book.spec,
            "skipped",
            chunks=int(manifest.get("chunks_total") or 0),
            path=str(settings.stores_dir / book.name),
        )
        if events.book_done:
            events.book_done(results[book.name])
    if not todo:
        return _report(books, results, 0, started, "extractive", None, "")
    with contextlib.redirect_stdout(sys.stderr):  # Ray's own messages (a retried task...) never mix with --json
        return _on_ray(ray, settings, books, todo, results, options, llm=llm, embedder=embedder, events=events, started=started)


def _on_ray(
    ray: Any,
    settings: Settings,
    books: list[BookSpec],
    todo: list[BookSpec],
    results: dict[str, BookResult],
    options: CorpusOptions,
    *,
    llm: ChatModel | None,
    embedder: Embedder,
    events: Events,
    started: float,
) -> CorpusReport:
    size = options.size or settings.chunk_size
    started_ray = _connect(ray, options)
    try:
        cpus = float(ray.cluster_resources().get("CPU", 1))
        workers = options.workers or max(1, int(cpus))
        # A worker reserves one CPU of Ray's (or a share) and its model and embedder use
        # one thread: a lone worker given every core had already taken both cores of
        # this machine, so a second worker added nothing (docs/scale.md).
        threads = 1
        # One CPU each, or an equal share when more workers than CPUs are asked for (so
        # that every actor is placed: a model-call-bound run can use more workers than cores).
        share = min(1.0, cpus / workers)
        actor = ray.remote(num_cpus=share, max_restarts=MAX_RESTARTS, max_task_retries=MAX_TASK_RETRIES)(BookWorker)
        first = actor.remote(WorkerConfig(settings, options.no_cache, None, threads))
        try:
            described: Answer = ray.get(first.describe.remote())
        except Exception as exc:  # the actor could not start (its models failed to load)
            raise AutomuseError(f"the Ray workers could not start: {_first_line(exc)}") from None
        lore: LoreMode = "model" if described.value[0] == "model" else "extractive"  # type: ignore[index]
        if described.note and events.note:
            events.note(described.note)
        config = WorkerConfig(settings, options.no_cache, lore, threads)
        pool = [first] + [actor.remote(config) for _ in range(workers - 1)]
        driver = _Driver(ray, pool, settings, todo, options, llm=llm, embedder=embedder, lore=lore, size=size, events=events)
        driver.run(results, len(books))
        address = str(ray.get_runtime_context().gcs_address)
    finally:
        if started_ray:
            ray.shutdown()
    return _report(books, results, workers, started, lore, described.note, address)


def _report(
    books: list[BookSpec], results: dict[str, BookResult], workers: int, started: float, lore: str, note: str | None, address: str
) -> CorpusReport:
    import time

    out = [results[b.name] for b in books]
    commit = sum(b.commit_seconds for b in out)
    return CorpusReport(out, workers, time.monotonic() - started, lore, commit, note, address)


def _first_line(exc: BaseException) -> str:
    """An exception's message as one short line (Ray's carry a traceback)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return (lines[-1] if lines else type(exc).__name__)[:300]


def _connect(ray: Any, options: CorpusOptions) -> bool:
    """Join the cluster given, or start a local instance; True if this call started
    it (and so shuts it down). An instance this process already runs is used as is."""
    if ray.is_initialized():
        return False
    address = options.ray_address or os.environ.get("RAY_ADDRESS") or None
    quiet = {"include_dashboard": False, "log_to_driver": False, "logging_level": "ERROR", "configure_logging": True}
    try:
        if address:
            ray.init(address=address, **quiet)
        else:
            ray.init(num_cpus=os.cpu_count() or 1, **quiet)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = f"the Ray cluster at {address}" if address else "a local Ray instance"
        raise InputError(f"cannot start or join {where}: {' '.join(str(exc).split())[:300]}") from None
    return True


class _Driver:
    """Hands tasks to idle actors, and answers to the books' committers."""

    def __init__(
        self,
        ray: Any,
        pool: list[Any],
        settings: Settings,
        books: list[BookSpec],
        options: CorpusOptions,
        *,
        llm: ChatModel | None,
        embedder: Embedder,
        lore: str,
        size: int,
        events: Events,
    ) -> None:
        self.ray, self.idle, self.settings, self.options = ray, list(pool), settings, options
        self.books, self.llm, self.embedder, self.lore, self.size, self.events = books, llm, embedder, lore, size, events
        self.run_size = EXTRACTIVE_RUN if lore == "extractive" else max(4, 2 * settings.concurrency)
        self.queue: list[_Task] = []
        self.inflight: dict[Any, tuple[Any, _Task]] = {}
        self.committers: dict[int, Committer] = {}
        self.seq = 0
        self.window = 2 * len(pool) + 1  # books open at once (read, analysed or committing)
        self.admitted = 0

    def run(self, results: dict[str, BookResult], total_books: int) -> None:
        self.results, self.total_books = results, total_books
        try:
            self._loop()
        finally:  # interrupted: every open store is closed and unlocked; what is committed stays
            for committer in self.committers.values():
                committer.close()

    def _loop(self) -> None:
        self._admit()
        self._progress()
        while self.queue or self.inflight:
            self._dispatch()
            ready, _ = self.ray.wait(list(self.inflight), num_returns=1)
            actor, task = self.inflight.pop(ready[0])
            self.idle.append(actor)
            try:
                answer: Answer = self.ray.get(ready[0])
            except Exception as exc:  # the task failed after Ray's retries (e.g. its worker kept dying)
                answer = Answer(error=f"a worker failed on it: {_first_line(exc)}")
            self._answer(task, answer)
            self._admit()
            self._progress()

    def _dispatch(self) -> None:
        while self.idle and self.queue:
            task = heapq.heappop(self.queue)
            actor = self.idle.pop()
            self.inflight[getattr(actor, task.method).remote(*task.args)] = (actor, task)

    def _push(self, book: int, method: str, args: tuple[Any, ...], kind: str, run: int = 0) -> None:
        self.seq += 1
        heapq.heappush(self.queue, _Task(book, self.seq, method, args, kind, run))

    def _admit(self) -> None:
        """Start reading the next books, up to the window of open books."""
        while self.admitted < len(self.books) and len(self.committers) < self.window:
            i = self.admitted
            self.admitted += 1
            book = self.books[i]
            committer = Committer(self.settings, book, embedder=self.embedder, llm=self.llm, size=self.size)
            self.committers[i] = committer
            try:
                fetched = fetch(book.spec, self.settings, self.options.mirror)
                data = Path(fetched.path).read_bytes()
            except AutomuseError as exc:
                self._failed(i, str(exc))
                continue
            except OSError as exc:
                self._failed(i, f"cannot read {book.spec}: {exc.strerror or exc}")
                continue
            source = str(fetched.path)
            self._push(i, "prepare", (book.name, data, source, fetched.gutenberg_id, self.size), "prepare")

    def _answer(self, task: _Task, answer: Answer) -> None:
        i = task.book
        committer = self.committers.get(i)
        if committer is None:
            return  # its book failed already
        if answer.error is not None:
            self._failed(i, answer.error)
            return
        try:
            if task.kind == "prepare":
                book, chunks = cast("tuple[Book, list[Chunk]]", answer.value)
                committer.result.seconds += answer.seconds
                runs = committer.open(book, chunks, self.lore, self.run_size)
                for n, (run, previous) in enumerate(runs):
                    self._push(i, "analyse", (run, previous), "analyse", n)
            elif task.kind == "analyse":
                committer.add(task.run, answer.value, answer.calls, answer.hits)  # type: ignore[arg-type]
            if task.kind in ("prepare", "analyse") and committer.analysed:
                records = committer.needs_outline()
                if records is not None and self.lore == "model":
                    self._push(i, "outline", (records,), "outline")
                    return
            if committer.analysed:
                outline = answer.value if task.kind == "outline" else None
                calls, hits = (answer.calls, answer.hits) if task.kind == "outline" else (0, 0)
                self._done(i, committer.finish(outline, calls, hits))  # type: ignore[arg-type]
        except AutomuseError as exc:
            self._failed(i, str(exc))

    def _done(self, i: int, result: BookResult) -> None:
        del self.committers[i]
        self.results[result.name] = result
        if self.events.book_done:
            self.events.book_done(result)

    def _failed(self, i: int, error: str) -> None:
        committer = self.committers[i]
        self.queue = [t for t in self.queue if t.book != i]
        heapq.heapify(self.queue)
        self._done(i, committer.fail(error))

    def _progress(self) -> None:
        if self.events.progress is None:
            return
        done_books = sum(1 for r in self.results.values() if r.status != "pending")
        opened = [c for c in self.committers.values() if c.total]
        finished = [r for r in self.results.values() if r.status != "failed"]
        done = sum(r.chunks for r in finished) + sum(c.done for c in opened)
        known = sum(r.chunks for r in finished) + sum(c.total for c in opened)
        # Books not read yet count as the average book so far, so that the ETA covers them.
        unread = self.total_books - done_books - len(opened)
        sizes = [r.chunks for r in finished] + [c.total for c in opened]
        estimate = known + (unread * sum(sizes) // len(sizes) if sizes else 0)
        self.events.progress(done_books, self.total_books, done, estimate)
