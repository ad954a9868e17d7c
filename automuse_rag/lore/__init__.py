"""Lore extraction: what one chunk says about its people and places (NER, the
dependency parse, a model's structured answer), name rules and the resolver that
folds mentions into entities. Pure functions over dataclasses, no storage: story
memory (:mod:`automuse_rag.memory`) stores the analyses and imports this package,
never the other way round."""
