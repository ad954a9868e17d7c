"""Story memory, the storage layer: ``state.sqlite`` (the one source of truth), the
Chroma index derived from it, the reads as of a chunk, and their checks, repairs and
migrations. It stores what :mod:`automuse_rag.lore` extracts and folds it with lore's
resolver; lore never imports memory."""
