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


# -- size limit: least recently used answers go first ------------------------------


def _entry(cache: CallCache, key: str, size: int = 1000) -> None:
    cache.put(key, "m", "chat", "x" * size, 1, 1)


def test_eviction_removes_the_least_recently_used_first(tmp_path: Path) -> None:
    from automuse_rag.models.cache import entry_size

    one = entry_size("k0", "m", "chat", "x" * 1000)
    cache = CallCache(tmp_path / "c.sqlite", max_bytes=3 * one)
    for key in ("k0", "k1", "k2"):
        _entry(cache, key)
    assert cache.get("k0") is not None  # k0 is now the most recently used; k1 the least
    _entry(cache, "k3")
    assert sorted(cache.keys()) == ["k0", "k2", "k3"]
    assert cache.keys() == ["k2", "k0", "k3"]  # least recently used first
    _entry(cache, "k4", size=2000)  # needs two slots: k2 and k0 go
    assert cache.keys() == ["k3", "k4"]
    assert cache.stats()["bytes"] <= 3 * one


def test_no_limit_keeps_everything_and_a_limit_applies_to_old_caches(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "c.sqlite"
    unlimited = CallCache(path)
    for i in range(5):
        _entry(unlimited, f"k{i}")
    assert len(unlimited) == 5
    unlimited.close()
    # a cache file from before the limit existed (no used/size columns) is migrated
    old = tmp_path / "old.sqlite"
    conn = sqlite3.connect(old)
    conn.execute(
        "CREATE TABLE calls (key TEXT PRIMARY KEY, model TEXT NOT NULL, kind TEXT NOT NULL, response TEXT NOT NULL,"
        " prompt_tokens INTEGER NOT NULL DEFAULT 0, completion_tokens INTEGER NOT NULL DEFAULT 0, created REAL NOT NULL)"
    )
    conn.executemany("INSERT INTO calls VALUES (?, 'm', 'chat', ?, 1, 1, ?)", [(f"o{i}", "y" * 1000, float(i)) for i in range(4)])
    conn.commit()
    conn.close()
    limited = CallCache(old, max_bytes=2000)  # room for one old entry and the new one
    assert limited.get("o0") is not None  # read, so it is kept over o1..o3
    _entry(limited, "new", size=10)
    assert set(limited.keys()) == {"o0", "new"}


def test_cached_model_stays_under_the_limit(tmp_path: Path) -> None:
    cache = CallCache(tmp_path / "c.sqlite", max_bytes=4000)
    model = CachedChatModel(ScriptedChatModel(lambda m, s: "w " * 300), cache)
    for i in range(20):
        model.chat([{"role": "user", "content": f"q{i}"}])
    stats = cache.stats()
    assert 0 < stats["entries"] < 20 and stats["bytes"] <= 4000
    assert model.chat([{"role": "user", "content": "q19"}]) and model.cache_hits == 1  # the newest survived


def test_cache_stats_and_clear_commands(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from automuse_rag.cli import app
    from automuse_rag.settings import get_settings

    runner = CliRunner()
    base = ["--home", str(tmp_path)]
    empty = runner.invoke(app, [*base, "cache", "stats", "--json"])
    assert empty.exit_code == 0, empty.output
    assert json.loads(empty.stdout)["entries"] == 0
    cache = CallCache(get_settings(home=tmp_path).cache_path)
    model = CachedChatModel(counting_model(), cache)
    for i in range(3):
        model.chat([{"role": "user", "content": f"q{i}"}])
    cache.close()
    stats = json.loads(runner.invoke(app, [*base, "cache", "stats", "--json"]).stdout)
    assert stats["entries"] == 3 and stats["bytes"] > 0 and stats["file_bytes"] > 0
    assert stats["max_bytes"] == 512 * 1024 * 1024
    assert stats["models"][0]["model"] == "fake:scripted" and stats["models"][0]["entries"] == 3
    table = runner.invoke(app, [*base, "cache", "stats"])
    assert table.exit_code == 0 and "3 answers" in table.output and "fake:scripted" in table.output
    refused = runner.invoke(app, [*base, "cache", "clear"], input="n\n")
    assert refused.exit_code == 1
    cleared = runner.invoke(app, [*base, "cache", "clear", "--yes", "--json"])
    assert cleared.exit_code == 0 and json.loads(cleared.stdout)["removed"] == 3
    assert json.loads(runner.invoke(app, [*base, "cache", "stats", "--json"]).stdout)["entries"] == 0
    limited = runner.invoke(app, [*base, "cache", "stats", "--json"], env={"AUTOMUSE_CACHE_MAX_MB": "0"})
    assert json.loads(limited.stdout)["max_bytes"] is None
    bad = runner.invoke(app, [*base, "cache", "stats"], env={"AUTOMUSE_CACHE_MAX_MB": "-1"})
    assert bad.exit_code == 2 and bad.output.startswith("error: bad setting cache_max_mb")
