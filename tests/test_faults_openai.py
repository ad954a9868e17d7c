"""The OpenAI backend against the fault-injecting server (tests/fault_server.py): each
fault kind on its own is survived with the fault-free answer, Retry-After is honoured,
and faults that never stop end in one ModelError line."""

from __future__ import annotations

import time

import pytest
from fault_server import KINDS, Faults, FaultServer

from automuse_rag.errors import ModelError
from automuse_rag.models.base import Sampling
from automuse_rag.models.openai_backend import OpenAIChatModel
from automuse_rag.settings import get_settings

FAST = {"openai_timeout": 1.0, "openai_retry_wait": 0.02, "openai_retry_max_wait": 2.0, "openai_max_retries": 4}
MESSAGES = [{"role": "user", "content": "Write the next passage of the story."}]


def _model(server: FaultServer, **overrides) -> OpenAIChatModel:
    return OpenAIChatModel(get_settings(openai_base_url=server.base_url, **{**FAST, **overrides}), "m")


@pytest.fixture(scope="module")
def clean_answer() -> str:
    with FaultServer() as server:
        return _model(server).chat(MESSAGES, Sampling(max_tokens=64, seed=1))


@pytest.mark.parametrize("kind", KINDS)
def test_each_fault_kind_is_retried_to_the_fault_free_answer(kind: str, clean_answer: str) -> None:
    faults = Faults(rate=1.0, kinds=(kind,), retry_after=0.2, slow_seconds=2.0)
    with FaultServer(faults) as server:
        model = _model(server)
        assert model.chat(MESSAGES, Sampling(max_tokens=64, seed=1)) == clean_answer
        assert server.stats.injected[kind] == len(faults.plan_for(next(iter(server.seen)))) >= 1
        assert model.attempts >= server.stats.injected[kind] + 1  # (+1 if the loaded machine made an answer late)


def test_retry_after_is_honoured() -> None:
    faults = Faults(rate=1.0, kinds=("429",), retry_after=1.6)
    with FaultServer(faults) as server:
        model = _model(server, openai_retry_wait=0.01)
        start = time.monotonic()
        model.chat(MESSAGES, Sampling(max_tokens=64, seed=1))
        waited = time.monotonic() - start
        assert server.stats.injected["429"] >= 1
        assert waited >= 1.6 * server.stats.injected["429"] - 0.05  # backoff alone is 0.01-0.03 s (0.5-1.5 s before)


def test_retry_after_is_capped_by_the_max_wait() -> None:
    faults = Faults(rate=1.0, kinds=("429",), retry_after=30.0)
    with FaultServer(faults) as server:
        model = _model(server, openai_retry_max_wait=0.3)
        start = time.monotonic()
        model.chat(MESSAGES, Sampling(max_tokens=64, seed=1))
        assert time.monotonic() - start < 5.0


@pytest.mark.parametrize("kind", ["truncated", "reset"])
def test_faults_that_never_stop_end_in_one_line(kind: str) -> None:
    faults = Faults(rate=0.0, kinds=(kind,), burst=None)
    with FaultServer(faults) as server:
        server.faults = Faults(rate=1.0, kinds=(kind,))
        server.faults.plan_for = lambda key: [kind] * 99  # type: ignore[method-assign]
        with pytest.raises(ModelError) as info:
            _model(server, openai_max_retries=2).chat(MESSAGES, Sampling(max_tokens=64, seed=1))
    message = str(info.value)
    assert "\n" not in message and server.base_url in message
    assert server.stats.injected[kind] == 3
