"""Corpus scale: many books, each its own story, ingested on Ray workers
(:mod:`automuse_rag.corpus.run`), one writer per store."""
