"""The generation loop with scripted models: guard rejections, resuming, SIGKILL,
plan files and the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import committed_chunks
from gen_helpers import PREMISE, ProseScript
from typer.testing import CliRunner

from automuse_rag.cli import app
from automuse_rag.errors import ModelError
from automuse_rag.generate import generate_story, guard
from automuse_rag.generate.files import read_rejections
from automuse_rag.memory.story import StoryMemory
from automuse_rag.models.fake import HashEmbedder, ScriptedChatModel
from automuse_rag.settings import get_settings

REPO = Path(__file__).resolve().parents[1]


def _run(home: Path, story: str, chunks: int, script: ProseScript, **kw):
    settings = get_settings(home=home)
    llm = ScriptedChatModel(script)
    result = generate_story(
        settings, story, PREMISE, chunks=chunks, llm=llm, embedder=HashEmbedder(64), analysis_llm="extractive", **kw
    )
    return settings, llm, result


def _texts(settings, story: str) -> list[str]:
    mem = StoryMemory.open(settings, story, embedder=HashEmbedder(64))
    try:
        return [r.text for r in mem.latest().records()]
    finally:
        mem.close()


def test_degenerate_candidate_is_rejected_logged_and_regenerated(tmp_path: Path) -> None:
    script = ProseScript(degenerate_first=1)
    settings, llm, result = _run(tmp_path, "degen", 3, script)
    assert result.chunks == 3 and result.rejections == 1
    log = read_rejections(tmp_path / "stores" / "degen")
    assert len(log) == 1
    assert log[0]["chunk"] == 0 and log[0]["attempt"] == 0
    assert any("repeated sentence" in r for r in log[0]["reasons"])
    texts = _texts(settings, "degen")
    assert not any("nobody knew why" in t for t in texts)
    manuscript = (tmp_path / "stores" / "degen" / "manuscript.md").read_text()
    assert "nobody knew why" not in manuscript
    # the retry ran hotter and more penalised than the rejected attempt
    chats = [s for kind, _, s in llm.calls if kind == "chat"]
    assert chats[1].temperature > chats[0].temperature
    assert chats[1].frequency_penalty > chats[0].frequency_penalty
    assert chats[1].presence_penalty > chats[0].presence_penalty
    assert chats[1].seed != chats[0].seed
    # every stored chunk passes the guard against what came before it
    for i, text in enumerate(texts):
        assert guard.check(text, previous=texts[:i], prompt="", embed=None).ok


def test_all_retries_failing_is_a_model_error_and_stores_nothing(tmp_path: Path) -> None:
    script = ProseScript(degenerate_first=100)
    with pytest.raises(ModelError, match="failed the degeneration guard"):
        _run(tmp_path, "hopeless", 2, script, options=None)
    settings = get_settings(home=tmp_path)
    assert _texts(settings, "hopeless") == []
    assert len(read_rejections(tmp_path / "stores" / "hopeless")) == settings.guard_retries + 1


def test_a_second_run_continues_where_the_first_stopped(tmp_path: Path) -> None:
    settings, _, first = _run(tmp_path, "resume", 3, ProseScript())
    before = _texts(settings, "resume")
    script = ProseScript()
    script.passages = 3
    _, llm, second = _run(tmp_path, "resume", 5, script)
    after = _texts(settings, "resume")
    assert first.new_chunks == 3 and second.new_chunks == 2 and second.chunks == 5
    assert after[:3] == before
    assert len(set(after)) == 5
    # the same command once more does no writing at all
    _, llm3, third = _run(tmp_path, "resume", 5, ProseScript())
    assert third.new_chunks == 0 and not [c for c in llm3.calls if c[0] == "chat"]


def test_position_comes_from_the_store_not_a_stale_state_file(tmp_path: Path) -> None:
    settings, _, _ = _run(tmp_path, "stale", 2, ProseScript())
    state_path = tmp_path / "stores" / "stale" / "generation.json"
    state = json.loads(state_path.read_text())
    state.update(chunks_done=0, next_chapter_after=-5)  # as if killed before the state write
    state_path.write_text(json.dumps(state))
    script = ProseScript()
    script.passages = 2
    _, _, result = _run(tmp_path, "stale", 3, script)
    texts = _texts(settings, "stale")
    assert result.new_chunks == 1 and len(texts) == 3 and len(set(texts)) == 3


def test_chapters_advance_after_chunks_per_chapter(tmp_path: Path) -> None:
    settings = get_settings(home=tmp_path, chunks_per_chapter=2)
    llm = ScriptedChatModel(ProseScript())
    generate_story(settings, "chapters", PREMISE, chunks=5, llm=llm, embedder=HashEmbedder(64), analysis_llm="extractive")
    mem = StoryMemory.open(settings, "chapters", embedder=HashEmbedder(64))
    assert [r.chapter for r in mem.latest().records()] == [1, 1, 2, 2, 3]
    assert mem.latest().records()[2].chapter_title == "Chapter 2: The Bailiff"
    manuscript = (tmp_path / "stores" / "chapters" / "manuscript.md").read_text()
    assert manuscript.index("## Chapter 1: The Workshop") < manuscript.index("## Chapter 3: The Dam")
    mem.close()


def test_the_model_can_end_a_chapter_early(tmp_path: Path) -> None:
    script = ProseScript()
    real = script.__call__

    def says_done(messages, sampling):
        if '"done"' in messages[-1]["content"]:
            return '{"done": true}'
        return real(messages, sampling)

    settings = get_settings(home=tmp_path, chunks_per_chapter=4)
    generate_story(
        settings,
        "early",
        PREMISE,
        chunks=4,
        llm=ScriptedChatModel(says_done),
        embedder=HashEmbedder(64),
        analysis_llm="extractive",
    )
    mem = StoryMemory.open(settings, "early", embedder=HashEmbedder(64))
    assert [r.chapter for r in mem.latest().records()] == [1, 1, 2, 2]  # asked after 2 chunks, said done
    mem.close()


def test_prompt_holds_chapter_plan_cast_and_last_chunk_within_budget(tmp_path: Path) -> None:
    settings, llm, _ = _run(tmp_path, "prompts", 3, ProseScript(), budget=600)
    chats = [m for kind, m, _ in llm.calls if kind == "chat"]
    last_prompt = "\n".join(m["content"] for m in chats[-1])
    texts = _texts(settings, "prompts")
    assert "Nora arrives in the dry town" in last_prompt  # the current chapter's plan
    assert "Tobias Crane" in last_prompt  # the cast
    assert texts[1][-80:] in last_prompt  # the end of the last chunk
    assert texts[2][:80] not in last_prompt
    assert llm.count_tokens(last_prompt) <= 600


def test_plan_only_then_edited_plan_is_used(tmp_path: Path) -> None:
    runner = CliRunner()
    premise_file = tmp_path / "premise.txt"
    premise_file.write_text(PREMISE)
    res = runner.invoke(
        app,
        [
            "--home",
            str(tmp_path),
            "generate",
            "--premise",
            str(premise_file),
            "--story",
            "edited",
            "--llm",
            "fake",
            "--plan-only",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "plan written" in res.output and "built from the premise" in res.output  # the fake model cannot plan
    outline = tmp_path / "stores" / "edited" / "outline.md"
    outline.write_text("# My Title\n\n## Chapter 1: Dust And Brass\n\nNora opens the workshop and winds every clock.\n")
    settings, _, result = _run(tmp_path, "edited", 2, ProseScript())
    mem = StoryMemory.open(settings, "edited", embedder=HashEmbedder(64))
    assert {r.chapter_title for r in mem.latest().records()} == {"Chapter 1: Dust And Brass"}
    assert "Dust And Brass" in mem.outline
    mem.close()
    assert (tmp_path / "stores" / "edited" / "manuscript.md").read_text().startswith("# My Title")


def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    runner = CliRunner()
    base = ["--home", str(tmp_path), "generate", "--story", "bad-one", "--llm", "fake"]
    res = runner.invoke(app, base + ["--premise", str(tmp_path / "missing.txt")])
    assert res.exit_code == 2 and "premise file not found" in res.output and "Traceback" not in res.output
    (tmp_path / "stores" / "bad-one").mkdir(parents=True)
    (tmp_path / "stores" / "bad-one" / "outline.md").write_text("## Chapter 2: Wrong\n\nplan\n")
    res = runner.invoke(app, base + ["--premise", PREMISE])
    assert res.exit_code == 2 and "numbered 1, 2, 3" in res.output and "Traceback" not in res.output
    res = runner.invoke(app, base + ["--premise", "A different premise about a lighthouse keeper and her dog."])
    assert res.exit_code == 2 and "another premise" in res.output


def test_an_ingested_story_is_never_written_into(tmp_path: Path) -> None:
    from automuse_rag.errors import StoreError

    settings = get_settings(home=tmp_path)
    StoryMemory.create(settings, "a-book", embedder=HashEmbedder(64), llm_name="extractive", source="book.txt").close()
    before = sorted(p.name for p in (tmp_path / "stores" / "a-book").iterdir())
    with pytest.raises(StoreError, match="ingested book"):
        _run(tmp_path, "a-book", 2, ProseScript())
    after = sorted(p.name for p in (tmp_path / "stores" / "a-book").iterdir() if p.name != ".lock")
    assert after == [b for b in before if b != ".lock"]


def test_cli_reports_a_hopeless_model_in_one_line(tmp_path: Path) -> None:
    """The fake backend answers one short constant sentence: every candidate fails."""
    args = [
        "--home",
        str(tmp_path),
        "generate",
        "--story",
        "fake-one",
        "--llm",
        "fake",
        "--embedder",
        "hash",
        "--memory-llm",
        "extractive",
        "--premise",
        PREMISE,
        "--chunks",
        "2",
        "--retries",
        "1",
    ]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 3, res.output
    assert "could not write chunk 0" in res.output and "too short" in res.output
    assert "Traceback" not in res.output
    log = read_rejections(tmp_path / "stores" / "fake-one")
    assert [e["attempt"] for e in log] == [0, 1]


def test_cli_json_result(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from automuse_rag.models import registry

    monkeypatch.setitem(registry._CHAT, "prose", lambda model, settings: ScriptedChatModel(ProseScript()))
    args = [
        "--home",
        str(tmp_path),
        "generate",
        "--story",
        "json-one",
        "--llm",
        "prose",
        "--embedder",
        "hash",
        "--memory-llm",
        "extractive",
        "--premise",
        PREMISE,
        "--chunks",
        "2",
        "--json",
    ]
    res = CliRunner().invoke(app, args)  # --json: nothing but the JSON on stdout
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["chunks"] == 2 and data["story"] == "json-one" and Path(data["manuscript"]).is_file()
    # without --json: the progress bar, then the result table; a larger --chunks extends the story
    res = CliRunner().invoke(app, [a if a != "2" else "3" for a in args if a != "--json"])
    assert res.exit_code == 0, res.output
    assert "3 (1 new)" in res.output and "manuscript" in res.output
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(app, ["--home", str(tmp_path), "export", "--story", "json-one", "--format", "epub"])
    assert res.exit_code == 0 and (tmp_path / "json-one.epub").stat().st_size > 0


def test_sigkill_then_restart_neither_loses_nor_repeats_a_chunk(tmp_path: Path) -> None:
    chunks = 8
    cmd = [sys.executable, str(REPO / "tests" / "gen_helpers.py"), str(tmp_path), "killed", str(chunks), "0.3"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    db = tmp_path / "stores" / "killed" / "state.sqlite"
    deadline = time.time() + 240
    while time.time() < deadline and committed_chunks(db, timeout=1) < 3 and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = committed_chunks(db, timeout=1)
    assert 3 <= killed_at < chunks
    done = subprocess.run(cmd[:-1] + ["0"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["chunks"] == chunks and result["new_chunks"] == chunks - killed_at
    settings = get_settings(home=tmp_path)
    mem = StoryMemory.open(settings, "killed", embedder=HashEmbedder(64))
    records = mem.latest().records()
    mem.close()
    assert [r.index for r in records] == list(range(chunks))
    assert len({r.text for r in records}) == chunks
    manuscript = (tmp_path / "stores" / "killed" / "manuscript.md").read_text()
    for r in records:
        assert manuscript.count(r.text[:60]) == 1


def test_an_echo_of_the_last_chunk_is_dropped_not_stored(tmp_path: Path) -> None:
    script = ProseScript(echo=True)
    settings, llm, result = _run(tmp_path, "echoes", 3, script)
    texts = _texts(settings, "echoes")
    assert result.chunks == 3 and result.rejections == 0
    for earlier, later in zip(texts, texts[1:]):
        assert guard.overlap_share(later, earlier) == 0.0
    # the model did echo: its raw reply for chunk 1 began with chunk 0
    assert script.outputs[1].startswith(texts[0][:60])
