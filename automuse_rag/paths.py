"""Where the project's own files live (the repository checkout the package is
installed from, editable)."""

from __future__ import annotations

from pathlib import Path


def project_root() -> Path:
    """The checkout holding ``automuse_rag/`` and ``books/``."""
    return Path(__file__).resolve().parents[1]


def books_root() -> Path:
    """The repository's ``books/`` directory (catalog and sample story)."""
    return project_root() / "books"


def catalog_path() -> Path:
    return books_root() / "catalog.toml"


def sample_dir() -> Path:
    return books_root() / "sample"
