"""Story memory: Chroma collections, lore entities and the character graph."""
