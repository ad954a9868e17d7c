"""What travels with each response: usage per reply (never shared state on the
backend), cache entries keyed by the server / model file that answered, and
capabilities declared by the backends. Against real loopback HTTP servers."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from loopback import Loopback, last_user
from pydantic import BaseModel

from automuse_rag.models.base import Reply, Usage
from automuse_rag.models.cache import CachedChatModel, CallCache
from automuse_rag.models.openai_backend import OpenAIChatModel
from automuse_rag.models.registry import get_chat_model
from automuse_rag.settings import get_settings

FAST = {"openai_timeout": 5.0, "openai_retry_wait": 0.01, "openai_max_retries": 1}


class Pair(BaseModel):
    word: str
    n: int


@pytest.fixture(autouse=True)
def _no_openai_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "AUTOMUSE_OPENAI_API_KEY", "AUTOMUSE_OPENAI_BASE_URL"):
        monkeypatch.delenv(var, raising=False)


def _model(url: str, **overrides) -> OpenAIChatModel:
    return OpenAIChatModel(get_settings(openai_base_url=url, **{**FAST, **overrides}), "m")


def _usage_of(text: str) -> tuple[int, int]:
    """Distinct usage per request: a function of the prompt's number."""
    n = int(text.split()[-1])
    return 100 + n, 7 * n + 1


def test_each_cached_reply_carries_its_own_usage_under_threads(tmp_path: Path) -> None:
    def answer(body, headers):
        return 200, f"answer {last_user(body)}", _usage_of(last_user(body))

    with Loopback(answer, latency=0.05) as server:
        cache = CallCache(tmp_path / "calls.sqlite")
        model = CachedChatModel(_model(server.base_url), cache)
        replies: dict[int, Reply] = {}

        def work(n: int) -> None:
            replies[n] = model.complete([{"role": "user", "content": f"prompt {n}"}])

        threads = [threading.Thread(target=work, args=(n,)) for n in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert server.max_in_flight > 1  # the calls really overlapped
    for n, reply in replies.items():
        assert reply.text == f"answer prompt {n}"
        assert reply.usage == Usage(*_usage_of(f"prompt {n}"))
    assert model.fresh_prompt_tokens == sum(100 + n for n in range(16))
    assert model.fresh_completion_tokens == sum(7 * n + 1 for n in range(16))
    # every stored entry holds the usage of the call that produced it
    again = CachedChatModel(_model(server.base_url), CallCache(tmp_path / "calls.sqlite"))
    for n in range(16):
        hit = again.complete([{"role": "user", "content": f"prompt {n}"}])
        assert hit.usage == Usage(*_usage_of(f"prompt {n}")) and hit.cached
    assert again.calls == 0 and again.cache_hits == 16


def test_chat_many_stores_each_replys_usage(tmp_path: Path) -> None:
    def answer(body, headers):
        return 200, last_user(body).upper(), _usage_of(last_user(body))

    with Loopback(answer, latency=0.05) as server:
        model = CachedChatModel(_model(server.base_url), CallCache(tmp_path / "calls.sqlite"))
        convs = [[{"role": "user", "content": f"p {n}"}] for n in range(6)]
        assert model.chat_many(convs, concurrency=3) == [f"P {n}" for n in range(6)]
    assert model.fresh_prompt_tokens == sum(100 + n for n in range(6))
    assert model.fresh_completion_tokens == sum(7 * n + 1 for n in range(6))


def test_the_repair_path_sums_both_attempts_usage(tmp_path: Path) -> None:
    def answer(body, headers):
        repairing = len(body["messages"]) > 1
        if repairing:
            return 200, json.dumps({"word": "ok", "n": 2}), (30, 4)
        return 200, '{"word": "ok", "n": "not a number"}', (10, 5)

    with Loopback(answer) as server:
        model = _model(server.base_url)
        reply = model.structured_reply([{"role": "user", "content": "give a pair"}], Pair)
        assert reply.value == Pair(word="ok", n=2)
        assert reply.usage == Usage(40, 9)
        assert len(server.requests) == 2
        cached = CachedChatModel(_model(server.base_url), CallCache(tmp_path / "calls.sqlite"))
        assert cached.structured([{"role": "user", "content": "give a pair"}], Pair) == Pair(word="ok", n=2)
        assert (cached.fresh_prompt_tokens, cached.fresh_completion_tokens) == (40, 9)


def test_usage_lives_in_each_reply_never_on_the_backend() -> None:
    """Overlapping calls on one uncached backend each get their own usage, a later
    call never changes an earlier reply's, and no backend holds a usage afterwards."""

    def answer(body, headers):
        return 200, f"answer {last_user(body)}", _usage_of(last_user(body))

    with Loopback(answer, latency=0.05) as server:
        model = _model(server.base_url)
        counted = CachedChatModel(_model(server.base_url), None)
        replies: dict[int, Reply] = {}

        def work(n: int) -> None:
            backend = model if n % 2 else counted
            replies[n] = backend.complete([{"role": "user", "content": f"prompt {n}"}])

        threads = [threading.Thread(target=work, args=(n,)) for n in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert server.max_in_flight > 1
        first = model.complete([{"role": "user", "content": "prompt 100"}])
        model.complete([{"role": "user", "content": "prompt 200"}])
    assert {n: r.usage for n, r in replies.items()} == {n: Usage(*_usage_of(f"prompt {n}")) for n in range(12)}
    assert first.usage == Usage(*_usage_of("prompt 100"))
    assert counted.fresh_prompt_tokens == sum(100 + n for n in range(0, 12, 2))
    for backend in (model, counted, counted.inner):
        assert [k for k, v in vars(backend).items() if isinstance(v, Usage | Reply)] == [], type(backend).__name__


# -- cache identity ------------------------------------------------------------


def test_the_same_prompt_to_another_server_is_not_answered_from_the_cache(home: Path) -> None:
    with Loopback(lambda b, h: (200, "from A", (1, 1))) as a, Loopback(lambda b, h: (200, "from B", (1, 1))) as b:
        first = get_chat_model("openai:m", get_settings(openai_base_url=a.base_url, **FAST))
        second = get_chat_model("openai:m", get_settings(openai_base_url=b.base_url, **FAST))
        msg = [{"role": "user", "content": "who are you?"}]
        assert first.chat(msg) == "from A"
        assert second.chat(msg) == "from B"
        assert second.calls == 1 and second.cache_hits == 0
        again = get_chat_model("openai:m", get_settings(openai_base_url=a.base_url, **FAST))
        assert again.chat(msg) == "from A" and again.cache_hits == 1
    assert first.identity != second.identity and first.name == second.name


def test_local_identity_follows_the_model_file(tmp_path: Path) -> None:
    from automuse_rag.models.local import LocalChatModel

    gguf = tmp_path / "tiny.gguf"
    gguf.write_bytes(b"GGUF" + b"\0" * 16)
    model = LocalChatModel(get_settings(), gguf)
    before = model.identity
    assert str(gguf) in before
    gguf.write_bytes(b"GGUF" + b"\1" * 32)  # another file at the same path
    assert LocalChatModel(get_settings(), gguf).identity != before


# -- capabilities ----------------------------------------------------------------


def test_backends_declare_their_capabilities() -> None:
    from automuse_rag.models.extractive import ExtractiveChatModel
    from automuse_rag.models.fake import ScriptedChatModel
    from automuse_rag.models.local import LocalChatModel

    assert (OpenAIChatModel.can_chat, OpenAIChatModel.can_structure, OpenAIChatModel.cacheable, OpenAIChatModel.remote) == (
        True,
        True,
        True,
        True,
    )
    assert (LocalChatModel.can_chat, LocalChatModel.can_score, LocalChatModel.cacheable, LocalChatModel.remote) == (
        True,
        True,
        True,
        False,
    )
    assert (ExtractiveChatModel.can_chat, ExtractiveChatModel.can_structure, ExtractiveChatModel.cacheable) == (
        False,
        False,
        False,
    )
    assert ScriptedChatModel.cacheable is False and ScriptedChatModel.can_chat is True
    settings = get_settings()
    assert not isinstance(get_chat_model("extractive", settings), CachedChatModel)
    assert not isinstance(get_chat_model("fake", settings), CachedChatModel)


@pytest.mark.parametrize("name", ["extractive", "fake:scripted", "local", "openai:gpt-4o-mini"])
def test_what_a_backend_may_do_follows_its_capabilities_not_its_name(name: str, home: Path) -> None:
    """A backend called by any built-in's name is treated as its capabilities say:
    one that cannot structure never analyses chunks or is probed; a remote one that
    can is trusted without a probe; only a cacheable one gets its probe recorded."""
    from automuse_rag.lore.extract import analyses_with_model
    from automuse_rag.lore.probe import lore_mode, probe_and_record, recorded
    from automuse_rag.models.extractive import ExtractiveChatModel
    from automuse_rag.models.fake import ScriptedChatModel

    settings = get_settings(home=home)
    no_model = ExtractiveChatModel()
    no_model.name = no_model.identity = name
    assert not analyses_with_model(no_model)
    assert lore_mode(settings, no_model) == ("extractive", None)

    remote = ScriptedChatModel([], name=name, default=None)  # a call would raise: nothing is asked
    remote.remote = True
    assert analyses_with_model(remote)
    assert lore_mode(settings, remote) == ("model", None) and remote.calls == []

    script = ScriptedChatModel(name=name, default="not json")
    probe_and_record(settings, script)
    assert script.calls and recorded(settings, script) is None  # a script: nothing recorded
    script.cacheable = True
    probe_and_record(settings, script)
    assert recorded(settings, script) is not None
