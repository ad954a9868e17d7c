"""The embedded local model (SmolLM2-135M through llama.cpp): real model, small calls."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import gutenberg_path
from pydantic import BaseModel, field_validator

from automuse_rag.errors import ModelError, StructuredOutputError
from automuse_rag.models.base import ChatModel, LogprobModel, Sampling, sampling_from_settings
from automuse_rag.models.local import LocalChatModel, find_gguf
from automuse_rag.models.registry import get_chat_model
from automuse_rag.settings import get_settings

pytestmark = pytest.mark.slow

GREEDY = Sampling(temperature=0.0, max_tokens=24, seed=7)


class Person(BaseModel):
    name: str
    age: int


class Impossible(BaseModel):
    word: str

    @field_validator("word")
    @classmethod
    def never(cls, value: str) -> str:
        raise ValueError("no word is ever accepted")


@pytest.fixture(scope="module")
def model() -> LocalChatModel:
    return LocalChatModel(get_settings(n_ctx=2048))


def test_finds_the_shipped_gguf_and_reports_its_window(model: LocalChatModel) -> None:
    path = find_gguf(get_settings())
    assert path.suffix == ".gguf" and path.stat().st_size > 50_000_000
    assert model.context_window == 2048 == model.llama.n_ctx()
    assert isinstance(model, ChatModel) and isinstance(model, LogprobModel)


def test_a_missing_override_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="AUTOMUSE_LOCAL_MODEL_PATH"):
        find_gguf(get_settings(local_model_path=tmp_path / "nope.gguf"))


def test_model_is_loaded_once_per_process(model: LocalChatModel) -> None:
    other = LocalChatModel(get_settings(n_ctx=2048))
    assert other.llama is model.llama


def test_chat_is_deterministic_under_greedy_sampling_and_honours_max_tokens(model: LocalChatModel) -> None:
    messages = [{"role": "user", "content": "Name three colours."}]
    reply = model.complete(messages, GREEDY)
    first = reply.text
    assert first.strip()
    assert 0 < reply.usage.completion_tokens <= GREEDY.max_tokens
    assert model.chat(messages, GREEDY) == first
    short_reply = model.complete(messages, GREEDY.with_(max_tokens=3))
    short = short_reply.text
    assert short_reply.usage.completion_tokens <= 3
    assert len(short) < len(first)


def test_stop_sequences_are_honoured(model: LocalChatModel) -> None:
    messages = [{"role": "user", "content": "Count from one to ten."}]
    full = model.chat(messages, GREEDY.with_(max_tokens=40))
    assert len(full) > 12
    stop = full[8:10]  # a piece from the middle of the greedy answer
    cut = model.chat(messages, GREEDY.with_(max_tokens=40, stop=(stop,)))
    assert stop not in cut
    assert cut.strip() == full[: full.index(stop)].strip()


def test_structured_returns_a_validated_object(model: LocalChatModel) -> None:
    person = model.structured(
        [{"role": "user", "content": "Invent a person. Reply as JSON with a name and an age."}],
        Person,
        Sampling(temperature=0.2, max_tokens=60, seed=3),
    )
    assert isinstance(person, Person) and person.name


def test_structured_reply_is_strict_json_and_carries_its_usage(model: LocalChatModel) -> None:
    reply = model.structured_reply(
        [{"role": "user", "content": "Invent a person with a two-line poem as the name. Reply as JSON with a name and an age."}],
        Person,
        Sampling(temperature=0.9, max_tokens=60, seed=11),
    )
    assert isinstance(reply.value, Person)
    assert not any(ord(c) < 32 for c in reply.text)  # the grammar allows no raw control characters (nor newlines between tokens)
    assert reply.usage.prompt_tokens > 0 and 0 < reply.usage.completion_tokens <= 2 * 60


def test_structured_output_that_never_validates_raises_after_one_repair(model: LocalChatModel) -> None:
    calls = []
    original = model._complete

    def counting(messages, sampling, **extra):
        calls.append(messages)
        return original(messages, sampling, **extra)

    model._complete = counting  # type: ignore[method-assign]
    try:
        with pytest.raises(StructuredOutputError, match="after a repair attempt"):
            model.structured(
                [{"role": "user", "content": "Give one word as JSON."}], Impossible, Sampling(max_tokens=30, temperature=0.0)
            )
    finally:
        del model._complete
    assert len(calls) == 2
    assert "no word is ever accepted" in calls[1][-1]["content"]  # the repair shows the error


def test_count_tokens_is_the_models_own_tokenizer(model: LocalChatModel) -> None:
    text = "Alice was beginning to get very tired of sitting by her sister on the bank."
    assert model.count_tokens("") == 0
    assert model.count_tokens(text) == len(model.llama.tokenize(text.encode(), add_bos=False))
    assert model.count_tokens(text + " " + text) > model.count_tokens(text)


def test_continuation_nll_prefers_the_real_continuation(model: LocalChatModel) -> None:
    context = "Once upon a time, there was a little girl. She lived in a small house with her"
    real, n_real = model.continuation_nll(context, " mother and father.")
    scrambled, n_scr = model.continuation_nll(context, " quantum the of gravel banana.")
    assert n_real == model.count_tokens(" mother and father.")
    assert n_scr == model.count_tokens(" quantum the of gravel banana.")
    assert 0 < real < scrambled
    # Scoring leaves the model usable for chat.
    assert model.chat([{"role": "user", "content": "Say hi."}], GREEDY.with_(max_tokens=5))


def test_continuation_nll_truncates_a_long_context_from_the_left(shared_data: Path) -> None:
    small = LocalChatModel(get_settings(n_ctx=256))
    book = gutenberg_path(shared_data, 11).read_text(encoding="utf-8-sig")
    context = book[20_000:24_000]  # about 1000 tokens: far more than 256
    assert small.count_tokens(context) > 256
    continuation = " And she went on."
    nll, n = small.continuation_nll(context, continuation)
    tail_nll, _ = small.continuation_nll(context[-200:], continuation)
    assert n == small.count_tokens(continuation) and nll > 0
    assert abs(nll - tail_nll) < 5  # same model, similar recent context


def test_registry_wraps_the_local_model_in_the_call_cache(home: Path) -> None:
    settings = get_settings(n_ctx=2048)
    messages = [{"role": "user", "content": "Say yes."}]
    model = get_chat_model("local", settings)
    first = model.chat(messages, GREEDY.with_(max_tokens=4))
    assert (model.calls, model.cache_hits) == (1, 0)
    assert model.prompt_tokens > 0 and 0 < model.completion_tokens <= 4
    again = get_chat_model("local", settings)
    assert again.chat(messages, GREEDY.with_(max_tokens=4)) == first
    assert (again.calls, again.cache_hits) == (0, 1)
    assert settings.cache_path.is_file()
    uncached = get_chat_model("local", settings, cache=False)
    uncached.chat(messages, GREEDY.with_(max_tokens=4))
    assert uncached.calls == 1


def test_sampling_from_settings_carries_every_option(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOMUSE_TEMPERATURE", "0.3")
    monkeypatch.setenv("AUTOMUSE_MAX_TOKENS", "77")
    monkeypatch.setenv("AUTOMUSE_SEED", "99")
    sampling = sampling_from_settings(get_settings(top_p=0.5, presence_penalty=0.25, frequency_penalty=0.5))
    assert (sampling.temperature, sampling.max_tokens, sampling.seed) == (0.3, 77, 99)
    assert (sampling.top_p, sampling.presence_penalty, sampling.frequency_penalty) == (0.5, 0.25, 0.5)
