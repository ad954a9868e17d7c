"""automuse-rag: long-term story memory for language models.

Retrieval over per-chunk summaries, lore cards and a character graph replaces the
ever-growing rolling summary. The library is importable; the ``automuse`` CLI is a
thin layer over it. Heavy dependencies (torch, chromadb, llama_cpp, spacy) are
imported lazily, inside the functions that need them.
"""

__version__ = "0.1.0"
