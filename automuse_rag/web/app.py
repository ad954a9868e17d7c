"""The FastAPI app behind ``automuse serve``: a read-only page over one story's memory.

Every route is GET. Each view takes ``at`` (the last chunk read; default the whole
story) and shows only what was known then. The JSON API lives under ``/api``; the
page (``/``) is static HTML, CSS and JavaScript shipped in this package (no CDN, no
network). The store is opened once per app and only read, through
:class:`LockedStory` (the read API, one lock: SQLite and Chroma handles are shared
between the server's threads).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from contextlib import asynccontextmanager
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from automuse_rag.ask import answer_question
from automuse_rag.errors import AutomuseError, InputError
from automuse_rag.memory.story import StoryMemory
from automuse_rag.models.registry import get_chat_model
from automuse_rag.settings import Settings
from automuse_rag.web import reports as report_files, views

STATIC = Path(str(resources.files("automuse_rag.web") / "static"))


class LockedStory:
    """A StoryView whose every read holds one lock: the SQLite and Chroma handles of a
    store are shared by the server's threads. Only the read API is exposed."""

    def __init__(self, story: Any, lock: threading.RLock) -> None:
        self._story = story
        self._lock = lock
        self.name = story.name

    @property
    def outline(self) -> str:
        with self._lock:
            return self._story.outline

    def outline_parts(self) -> list[Any]:
        with self._lock:
            return self._story.outline_parts()

    def __len__(self) -> int:
        with self._lock:
            return len(self._story)

    def __getattr__(self, attr: str) -> Any:
        """The other reads of the StoryView protocol, each under the lock."""
        if attr not in _READS:
            raise AttributeError(attr)
        method = getattr(self._story, attr)

        def locked(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return method(*args, **kwargs)

        return locked


_READS = frozenset(
    {
        "active",
        "records",
        "records_at",
        "last_index",
        "chapters",
        "entities",
        "entity_names",
        "relations",
        "graph",
        "named_in",
        "neighbours",
        "search",
        "analyses",
    }
)


class _Backend:
    """The story, the model and the caches one app shares between requests.

    Store reads are serialised by :class:`LockedStory`; model use (generation and the
    tokenizer, which share one llama.cpp context for the local model) by
    ``model_lock``, so a long answer does not block the views that only read."""

    def __init__(
        self,
        story: Any,
        settings: Settings,
        llm: str | None,
        budget: int | None,
        k: int,
        compare_dirs: Sequence[Path],
        close: Callable[[], None] | None,
    ) -> None:
        self.story = LockedStory(story, threading.RLock())
        self.settings = settings
        self.llm_spec = llm or settings.llm
        self.budget = budget or settings.budget
        self.k = k
        self.compare_dirs = list(compare_dirs)
        self.close = close
        self.model_lock = threading.RLock()
        self._model: Any = None
        self.graph = lru_cache(maxsize=64)(self._graph)

    def model(self) -> Any:
        """The configured chat model (loaded on first use; also the prompt's tokenizer).
        Call with ``model_lock`` held."""
        if self._model is None:
            self._model = get_chat_model(self.llm_spec, self.settings)
        return self._model

    def _graph(self, at: int) -> dict[str, Any]:
        return views.graph(self.story, at)

    def reports(self) -> list[report_files.Report]:
        return report_files.find_reports(self.settings.home, self.story.name, self.compare_dirs)


def create_app(
    story: Any,
    *,
    settings: Settings,
    llm: str | None = None,
    budget: int | None = None,
    k: int = 8,
    compare_dirs: Sequence[Path] = (),
    close: Callable[[], None] | None = None,
) -> Any:
    """The web app over ``story`` (any StoryView: a StoryMemory, or an InMemoryStory
    in tests). ``llm`` writes answers and counts the prompt's tokens (default: the
    configured LLM); ``budget`` is the context viewer's token budget; ``close`` is
    called when the app shuts down."""
    from fastapi import FastAPI, Query, Request
    from fastapi.responses import FileResponse, JSONResponse
    from fastapi.staticfiles import StaticFiles

    be = _Backend(story, settings, llm, budget, k, compare_dirs, close)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
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

    def at_of(at: int | None) -> int:
        return views.check_at(be.story, at)

    AT = Query(None, description="Last chunk read (default: the whole story; -1: nothing yet).")

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/api/story")
    def story_info() -> dict[str, Any]:
        """The story's name, its number of chunks and the server's settings."""
        return {
            "name": be.story.name,
            "chunks": len(be.story),
            "llm": be.llm_spec,
            "budget": be.budget,
            "k": be.k,
            "compare_reports": len(be.reports()),
        }

    @app.get("/api/characters")
    def characters(at: int | None = AT, q: str = "", kind: str = "") -> list[dict[str, Any]]:
        """Entities known at ``at`` (lore cards with aliases and descriptions, and where each was said)."""
        return views.characters(be.story, at_of(at), q, kind)

    @app.get("/api/graph")
    def graph(at: int | None = AT) -> dict[str, Any]:
        """The character graph at ``at``: nodes with a layout, edges with chunks and relation labels."""
        return be.graph(at_of(at))

    @app.get("/api/timeline")
    def timeline(at: int | None = AT) -> dict[str, Any]:
        """Chapters and chunks read by ``at``, and who appears in which chunk."""
        return views.timeline(be.story, at_of(at))

    @app.get("/api/chunk/{index}")
    def chunk(index: int, at: int | None = AT) -> dict[str, Any]:
        """One chunk read by ``at`` (404 for a chunk after it)."""
        return views.chunk(be.story, index, at_of(at))

    @app.get("/api/prompt")
    def prompt(at: int | None = AT, budget: int | None = Query(None, ge=1), k: int | None = Query(None, ge=1)) -> dict[str, Any]:
        """The prompt for chunk ``at + 1`` as ``automuse prompt --json`` builds it, with every decision."""
        at = at_of(at)
        with be.model_lock:
            return views.prompt(be.story, at, budget=budget or be.budget, count_tokens=be.model().count_tokens, k=k or be.k)

    @app.get("/api/ask")
    def ask(
        q: str = Query(..., description="The question."), at: int | None = AT, k: int | None = Query(None, ge=1)
    ) -> dict[str, Any]:
        """The same answer as ``automuse ask``, plus how it was made."""
        if not q.strip():
            raise InputError("the question is empty")
        at = at_of(at)
        with be.model_lock:
            result = answer_question(be.story, q, at, llm=be.model(), k=k or be.k)
        return {**result.to_dict(), "method": result.method, "note": result.note}

    @app.get("/api/compare")
    def compare(at: int | None = AT) -> list[dict[str, Any]]:
        """The story's compare reports: summary per strategy, plots, and figures at ``at``."""
        at = at_of(at)
        return [report_files.describe(r, i, at, be.settings.home) for i, r in enumerate(be.reports())]

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


def open_app(settings: Settings, name: str, **options: Any) -> Any:
    """Open story ``name`` (StoreError if it does not exist) and serve it."""
    story = StoryMemory.open(settings, name)
    try:
        return create_app(story, settings=settings, close=story.close, **options)
    except Exception:
        story.close()
        raise
