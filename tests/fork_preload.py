"""Imported once by the forkserver of ``fork_runner``: everything an ``automuse``
child needs, so each forked child starts at once (no import or model-load time)."""

import chromadb  # noqa: F401
import httpx  # noqa: F401
import networkx  # noqa: F401
import openai  # noqa: F401

import automuse_rag.cli
import automuse_rag.generate.loop
import automuse_rag.memory.ingest  # noqa: F401
from automuse_rag.lore.ner import get_nlp

get_nlp()  # spaCy's en_core_web_sm, loaded once and shared copy-on-write
