"""Ask a story: spoiler-free answers with checked citations.

Public API: :func:`answer_question` (returns an :class:`Answer`), and
:func:`retrieve_evidence` (the memories and lore cards known at a chunk, found with
the prompt's own activations plus the question).
"""

from automuse_rag.ask.answer import (
    Answer,
    Citation,
    answer_question,
    check_model_reply,
    rank_sentences,
)
from automuse_rag.ask.evidence import Evidence, retrieve_evidence

__all__ = ["Answer", "Citation", "Evidence", "answer_question", "check_model_reply", "rank_sentences", "retrieve_evidence"]
