"""The FastAPI app behind ``automuse serve``: a read-only page over one story's memory.

Every route is GET. Each view takes ``at`` (the last chunk read; default the whole
story) and shows only what was known then. The JSON API lives under ``/api``; the
page (``/``) is static HTML, CSS and JavaScript shipped in this package (no CDN, no
network). The store is opened once per app and only read: each request reads one
snapshot (``story.at(at)``) whose reads hold one lock (:class:`LockedReads`: SQLite
and Chroma handles are shared between the server's threads).
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from automuse_rag.ask.answer import answer_question
from automuse_rag.errors import AutomuseError, InputError
from automuse_rag.generate.continuity import story_plan_facts
from automuse_rag.lore.continuity import Contradiction, KnownFact
from automuse_rag.lore.entity import Entity, Relation
from automuse_rag.lore.lorebook import LoreEntry
from automuse_rag.memory.api import StoryView
from automuse_rag.memory.continuity import check_story
from automuse_rag.memory.snapshot import PositionReader, StorySnapshot, Views
from automuse_rag.memory.story import StoryMemory
from automuse_rag.memory.types import ChunkRecord, Edges, Hit
from automuse_rag.models.base import ChatModel
from automuse_rag.models.registry import get_chat_model
from automuse_rag.settings import Settings
from automuse_rag.web import reports as report_files, views

if TYPE_CHECKING:
    from fastapi import FastAPI

STATIC = Path(str(resources.files("automuse_rag.web") / "static"))


class LockedReads:
    """A snapshot's reads, each under one lock: the SQLite and Chroma handles of a store
    are shared by the server's threads. Each request makes one snapshot over these."""

    def __init__(self, reads: PositionReader, lock: threading.RLock) -> None:
        self._reads, self._lock = reads, lock

    def records(self, upto: int) -> list[ChunkRecord]:
        with self._lock:
            return self._reads.records(upto)

    def records_at(self, indices: Iterable[int]) -> dict[int, ChunkRecord]:
        with self._lock:
            return self._reads.records_at(indices)

    def chapters(self, indices: Iterable[int]) -> dict[int, int]:
        with self._lock:
            return self._reads.chapters(indices)

    def entities(self, at: int, ids: Sequence[str] | None = None) -> list[Entity]:
        with self._lock:
            return self._reads.entities(at, ids)

    def entity_names(self, ids: Iterable[str], at: int) -> dict[str, str]:
        with self._lock:
            return self._reads.entity_names(ids, at)

    def named_in(self, text: str, at: int) -> dict[str, int]:
        with self._lock:
            return self._reads.named_in(text, at)

    def neighbours(self, ids: Sequence[str], at: int) -> dict[str, Edges]:
        with self._lock:
            return self._reads.neighbours(ids, at)

    def active(self, at: int, window: int, limit: int) -> list[tuple[str, str, int]]:
        with self._lock:
            return self._reads.active(at, window, limit)

    def relations(self, at: int) -> list[Relation]:
        with self._lock:
            return self._reads.relations(at)

    def embed_query(self, text: str) -> list[float]:
        with self._lock:
            return self._reads.embed_query(text)

    def lorebook(self, at: int) -> list[LoreEntry]:
        with self._lock:
            return self._reads.lorebook(at)

    def facts(self, at: int, ids: Sequence[str] | None = None) -> list[KnownFact]:
        with self._lock:
            return self._reads.facts(at, ids)

    def search(self, vector: list[float], k: int, at: int, kinds: Sequence[str], views: Views | None = None) -> list[Hit]:
        with self._lock:
            return self._reads.search(vector, k, at, kinds, views)


class _Backend:
    """The story, the model and the caches one app shares between requests.

    Store reads are serialised by :class:`LockedReads`; model use (generation and the
    tokenizer, which share one llama.cpp context for the local model) by
    ``model_lock``, so a long answer does not block the views that only read."""

    def __init__(
        self,
        story: StoryView,
        settings: Settings,
        llm: str | None,
        budget: int | None,
        k: int,
        compare_dirs: Sequence[Path],
        close: Callable[[], None] | None,
    ) -> None:
        self.story = story
        self.lock = threading.RLock()
        self.settings = settings
        self.llm_spec = llm or settings.llm
        self.budget = budget or settings.budget
        self.k = k
        self.compare_dirs = list(compare_dirs)
        self.close = close
        self.model_lock = threading.RLock()
        self._model: ChatModel | None = None
        self._continuity: tuple[int, list[Contradiction]] | None = None
        self._plan = story_plan_facts(settings, story.name)  # roles a generated story's plan fixes
        self.graph = lru_cache(maxsize=64)(self._graph)

    def at(self, at: int | None) -> StorySnapshot:
        """The story as known after chunk ``at`` (None: its last chunk), its reads under the lock."""
        with self.lock:
            snap = self.story.latest() if at is None else self.story.at(at)
        return replace(snap, reads=LockedReads(snap.reads, self.lock))

    def size(self) -> int:
        with self.lock:
            return len(self.story)

    def model(self) -> ChatModel:
        """The configured chat model (loaded on first use; also the prompt's tokenizer).
        Call with ``model_lock`` held."""
        if self._model is None:
            self._model = get_chat_model(self.llm_spec, self.settings)
        return self._model

    def _graph(self, at: int) -> dict[str, Any]:
        return views.graph(self.at(at))

    def contradictions(self) -> list[Contradiction]:
        """The whole story's contradictions (memory/continuity.py), checked once per story
        length, unfolded: a position's view folds those it shows (web/views.py)."""
        with self.lock:
            size = len(self.story)
            if self._continuity is None or self._continuity[0] != size:
                self._continuity = (size, check_story(self.story, plan=self._plan, fold=False) if size else [])
            return self._continuity[1]

    def reports(self) -> list[report_files.Report]:
        return report_files.find_reports(self.settings.home, self.story.name, self.compare_dirs)


def create_app(
    story: StoryView,
    *,
    settings: Settings,
    llm: str | None = None,
    budget: int | None = None,
    k: int = 8,
    compare_dirs: Sequence[Path] = (),
    close: Callable[[], None] | None = None,
) -> FastAPI:
    """The web app over ``story`` (any StoryView: a StoryMemory, or an InMemoryStory
    in tests). ``llm`` writes answers and counts the prompt's tokens (default: the
    configured LLM); ``budget`` is the context viewer's token budget; ``close`` is
    called when the app shuts down."""
    from fastapi import FastAPI, Query, Request
    from fastapi.responses import FileResponse, JSONResponse
    from fastapi.staticfiles import StaticFiles

    be = _Backend(story, settings, llm, budget, k, compare_dirs, close)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        if be.close is not None:
            be.close()

    app = FastAPI(
        title=f"automuse: {story.name}", docs_url=None, redoc_url=None, openapi_url="/api/openapi.json", lifespan=lifespan
    )
    app.state.backend = be

    @app.exception_handler(AutomuseError)
    async def _user_error(request: Request, exc: AutomuseError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404 if isinstance(exc, views.NotFound) else 400)

    AT = Query(None, description="Last chunk read (default: the whole story; -1: nothing yet).")

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/api/story")
    def story_info() -> dict[str, Any]:
        """The story's name, its number of chunks and the server's settings."""
        return {
            "name": be.story.name,
            "chunks": be.size(),
            "llm": be.llm_spec,
            "budget": be.budget,
            "k": be.k,
            "compare_reports": len(be.reports()),
        }

    @app.get("/api/characters")
    def characters(at: int | None = AT, q: str = "", kind: str = "") -> list[dict[str, Any]]:
        """Entities known at ``at`` (lore cards with aliases and descriptions, and where each was said)."""
        return views.characters(be.at(at), q, kind)

    @app.get("/api/graph")
    def graph(at: int | None = AT) -> dict[str, Any]:
        """The character graph at ``at``: nodes with a layout, edges with chunks and relation labels."""
        return be.graph(be.at(at).at)

    @app.get("/api/timeline")
    def timeline(at: int | None = AT) -> dict[str, Any]:
        """Chapters and chunks read by ``at``, and who appears in which chunk."""
        return views.timeline(be.at(at))

    @app.get("/api/chunk/{index}")
    def chunk(index: int, at: int | None = AT) -> dict[str, Any]:
        """One chunk read by ``at`` (404 for a chunk after it)."""
        return views.chunk(be.at(at), index)

    @app.get("/api/continuity")
    def continuity(at: int | None = AT) -> list[dict[str, Any]]:
        """The contradictions in chunks read by ``at``, each citing its sentence and the fact it breaks."""
        return views.continuity(be.at(at), be.contradictions())

    @app.get("/api/prompt")
    def prompt(at: int | None = AT, budget: int | None = Query(None, ge=1), k: int | None = Query(None, ge=1)) -> dict[str, Any]:
        """The prompt for chunk ``at + 1`` as ``automuse prompt --json`` builds it, with every decision."""
        snap = be.at(at)
        with be.model_lock:
            return views.prompt(snap, budget=budget or be.budget, count_tokens=be.model().count_tokens, k=k or be.k)

    @app.get("/api/ask")
    def ask(
        q: str = Query(..., description="The question."), at: int | None = AT, k: int | None = Query(None, ge=1)
    ) -> dict[str, Any]:
        """The same answer as ``automuse ask``, plus how it was made."""
        if not q.strip():
            raise InputError("the question is empty")
        snap = be.at(at)
        with be.model_lock:
            result = answer_question(snap, q, llm=be.model(), k=k or be.k)
        return {**result.to_dict(), "method": result.method, "note": result.note}

    @app.get("/api/compare")
    def compare(at: int | None = AT) -> list[dict[str, Any]]:
        """The story's compare reports: summary per strategy, plots, and figures at ``at``."""
        at_ = be.at(at).at
        return [report_files.describe(r, i, at_, be.settings.home) for i, r in enumerate(be.reports())]

    @app.get("/api/compare/{index}/files/{name}", include_in_schema=False)
    def compare_file(index: int, name: str) -> FileResponse:
        found = be.reports()
        if not 0 <= index < len(found) or name not in report_files.SERVED_FILES:
            raise views.NotFound(f"no compare file {index}/{name}")
        path = found[index].directory / name
        if not path.is_file():
            raise views.NotFound(f"no compare file {index}/{name}")
        return FileResponse(path)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def open_app(settings: Settings, name: str, **options: Any) -> FastAPI:
    """Open story ``name`` (StoreError if it does not exist) and serve it."""
    story = StoryMemory.open(settings, name)
    try:
        return create_app(story, settings=settings, close=story.close, **options)
    except Exception:
        story.close()
        raise
