"""Novel generation from a premise: the plan, the memory-backed chunk loop and the
degeneration guard.

Public API: :func:`generate_story` (-> :class:`GenerationResult`), the guard's
:func:`~automuse_rag.generate.guard.check` with :class:`Thresholds`, and the plan's
:func:`~automuse_rag.generate.plan.make_plan` / :func:`load_plan`.
"""

from automuse_rag.generate.guard import DEFAULT_THRESHOLDS, GuardResult, Thresholds, check
from automuse_rag.generate.loop import GenerationProgress, GenerationResult, generate_story, read_premise
from automuse_rag.generate.plan import Plan, load_plan, make_plan

__all__ = [
    "DEFAULT_THRESHOLDS",
    "GenerationProgress",
    "GenerationResult",
    "GuardResult",
    "Plan",
    "Thresholds",
    "check",
    "generate_story",
    "load_plan",
    "make_plan",
    "read_premise",
]
