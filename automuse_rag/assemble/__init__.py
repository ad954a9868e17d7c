"""Token-budgeted prompt assembly with as-of retrieval.

Public API:

* :func:`assemble` (pure) with :class:`Candidate`, :class:`Decision`,
  :class:`AssembledPrompt`;
* :class:`Template`, :func:`load_template`, :func:`parse_template`;
* :func:`gather_candidates` and :func:`build_prompt` (retrieval as of a chunk over a
  :class:`~automuse_rag.memory.api.StoryView`).
"""

from automuse_rag.assemble.assembler import AssembledPrompt, Candidate, Decision, assemble
from automuse_rag.assemble.budget import MIN_LAST_CHUNK_TOKENS, MIN_OUTLINE_TOKENS
from automuse_rag.assemble.retrieve import ACTIVATIONS, build_prompt, gather_candidates
from automuse_rag.assemble.templates import Template, load_template, parse_template

__all__ = [
    "ACTIVATIONS",
    "AssembledPrompt",
    "Candidate",
    "Decision",
    "MIN_LAST_CHUNK_TOKENS",
    "MIN_OUTLINE_TOKENS",
    "Template",
    "assemble",
    "build_prompt",
    "gather_candidates",
    "load_template",
    "parse_template",
]
