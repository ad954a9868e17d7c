"""Compare retrieval against rolling summaries (``automuse compare``).

``run_compare(story, llm=..., budget=..., positions=..., nll_samples=..., out_dir=...)``
evaluates four context strategies (:mod:`.strategies`) at each chunk position with
the metrics of :mod:`.metrics` and writes the report of :mod:`.report`.
"""

from __future__ import annotations

from automuse_rag.compare.report import CompareReport, StrategyResult
from automuse_rag.compare.run import run_compare
from automuse_rag.compare.strategies import STRATEGIES

__all__ = ["STRATEGIES", "CompareReport", "StrategyResult", "run_compare"]
