"""Prompt templates shipped as package data (``automuse_rag/templates/*.txt``).

One syntax: :class:`string.Template` (``$name``; ``$$`` for a literal dollar sign).
:func:`text` reads a file once (cached); :func:`render` substitutes every variable and
raises ``KeyError`` for a missing one. The section templates (``prompt_*.txt``,
``write_prompt.txt``) are parsed by :mod:`automuse_rag.assemble.templates`.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from string import Template


@cache
def text(name: str) -> str:
    """The raw text of the template file ``name`` (for example ``"ask_user.txt"``)."""
    return resources.files(__name__).joinpath(name).read_text(encoding="utf-8")


def exists(name: str) -> bool:
    return resources.files(__name__).joinpath(name).is_file()


def render(name: str, **values: object) -> str:
    """The template ``name`` with every ``$var`` replaced by ``values[var]``."""
    return Template(text(name)).substitute(**values)
