"""``automuse serve``: a local, read-only web page over a story's memory.

:func:`create_app` builds the FastAPI app over any StoryView; :func:`open_app` opens
a stored story first. The views themselves are plain functions in
:mod:`automuse_rag.web.views` (JSON-ready data as known at a chunk).
"""

from automuse_rag.web.app import create_app, open_app

__all__ = ["create_app", "open_app"]
