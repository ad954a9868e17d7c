"""The SQLite call cache around a chat model (with the scripted test double)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from pydantic import BaseModel

from automuse_rag.models.base import LogprobModel, Sampling
from automuse_rag.models.cache import CachedChatModel, CallCache, call_key
from automuse_rag.models.fake import ScriptedChatModel


class Fact(BaseModel):
    text: str
    chapter: int


MSG = [{"role": "user", "content": "Tell me something."}]


def counting_model() -> ScriptedChatModel:
    return ScriptedChatModel(lambda messages, sampling: f"reply {len(messages)} {sampling.temperature}")


def test_second_identical_call_comes_from_the_cache_across_instances(tmp_path: Path) -> None:
    inner = counting_model()
    first = CachedChatModel(inner, CallCache(tmp_path / "c.sqlite"))
    answer = first.chat(MSG, Sampling())
    assert (first.calls, first.cache_hits) == (1, 0)
    second = CachedChatModel(inner, CallCache(tmp_path / "c.sqlite"))  # a new process would do this
    assert second.chat(MSG, Sampling()) == answer
    assert (second.calls, second.cache_hits) == (0, 1)
    assert len(inner.calls) == 1
    assert second.prompt_tokens == first.prompt_tokens > 0
    assert second.completion_tokens == first.completion_tokens > 0
    assert second.fresh_prompt_tokens == 0


def test_any_change_of_messages_or_options_misses(tmp_path: Path) -> None:
    inner = counting_model()
    model = CachedChatModel(inner, CallCache(tmp_path / "c.sqlite"))
    model.chat(MSG, Sampling())
    model.chat(MSG, Sampling(temperature=0.1))
    model.chat(MSG, Sampling(stop=("x",)))
    model.chat(MSG, Sampling(seed=5))
    model.chat([*MSG, {"role": "user", "content": "more"}], Sampling())
    assert model.calls == 5 and model.cache_hits == 0
    assert len({call_key("m", "chat", MSG, Sampling(top_p=p)) for p in (0.1, 0.2)}) == 2
    assert call_key("a", "chat", MSG, None) != call_key("b", "chat", MSG, None)


def test_no_cache_always_calls_but_still_counts(tmp_path: Path) -> None:
    inner = counting_model()
    model = CachedChatModel(inner, None)
    model.chat(MSG)
    model.chat(MSG)
    assert model.calls == 2 and model.cache_hits == 0 and len(inner.calls) == 2
    assert not list(tmp_path.iterdir())


def test_structured_results_are_cached_and_revalidated(tmp_path: Path) -> None:
    inner = ScriptedChatModel([{"text": "The ring was lost", "chapter": 3}])
    model = CachedChatModel(inner, CallCache(tmp_path / "c.sqlite"))
    fact = model.structured(MSG, Fact)
    again = model.structured(MSG, Fact)
    assert fact == again == Fact(text="The ring was lost", chapter=3)
    assert model.calls == 1 and model.cache_hits == 1


def test_none_from_a_backend_without_structured_output_is_not_cached(tmp_path: Path) -> None:
    inner = ScriptedChatModel([None, None])
    model = CachedChatModel(inner, CallCache(tmp_path / "c.sqlite"))
    assert model.structured(MSG, Fact) is None
    assert model.structured(MSG, Fact) is None
    assert len(inner.calls) == 2 and len(model.cache) == 0


def test_chat_many_answers_in_order_and_only_asks_for_misses(tmp_path: Path) -> None:
    inner = ScriptedChatModel(lambda messages, sampling: messages[-1]["content"].upper())
    model = CachedChatModel(inner, CallCache(tmp_path / "c.sqlite"))
    model.chat([{"role": "user", "content": "b"}])
    convs = [[{"role": "user", "content": c}] for c in "abc"]
    assert model.chat_many(convs) == ["A", "B", "C"]
    assert model.calls == 3 and model.cache_hits == 1  # "b" came from the cache


def test_cache_is_safe_across_threads(tmp_path: Path) -> None:
    model = CachedChatModel(counting_model(), CallCache(tmp_path / "c.sqlite"))
    errors = []

    def work(i: int) -> None:
        try:
            for j in range(20):
                model.chat([{"role": "user", "content": f"{i}-{j % 5}"}])
        except Exception as exc:  # pragma: no cover - surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert model.calls + model.cache_hits == 80
    assert len(model.cache) == 20


def test_logprob_protocol_follows_the_inner_model(tmp_path: Path) -> None:
    plain = CachedChatModel(counting_model(), None)
    assert not isinstance(plain, LogprobModel)

    class Scorer(ScriptedChatModel):
        scored = 0

        def continuation_nll(self, context: str, continuation: str) -> tuple[float, int]:
            Scorer.scored += 1
            return 1.5, len(continuation.split())

    scoring = CachedChatModel(Scorer(), CallCache(tmp_path / "c.sqlite"))
    assert isinstance(scoring, LogprobModel)
    assert scoring.continuation_nll("ctx", "a b c") == (1.5, 3)
    assert scoring.continuation_nll("ctx", "a b c") == (1.5, 3)
    assert Scorer.scored == 1


def test_unwritable_cache_is_a_store_error(tmp_path: Path) -> None:
    from automuse_rag.errors import StoreError

    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    model = CachedChatModel(counting_model(), CallCache(blocker / "sub" / "c.sqlite"))
    with pytest.raises(StoreError, match="--no-cache"):
        model.chat(MSG)
