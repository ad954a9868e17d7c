"""``automuse finetune create|follow|show|list|cancel`` against a real OpenAI-compatible
fine-tuning server on 127.0.0.1 (tests/ft_server.py), through the real ``openai``
client over HTTP: validation before upload, the job's life, errors, the story
manifest, and Ctrl-C detaching from ``--wait``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REPO, SAMPLE_DIR
from ft_server import FineTuneServer, finetune_server
from typer.testing import CliRunner

from automuse_rag.cli import app

pytestmark = pytest.mark.slow
BASE = "gpt-4o-mini-2024-07-18"


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(home, train.jsonl, train.val.jsonl): the sample story ingested (extractive, hash
    embedder) and exported as a chat dataset by the real commands."""
    home = tmp_path_factory.mktemp("ft-home")
    runner = CliRunner()
    env = {"AUTOMUSE_HOME": str(home)}
    result = runner.invoke(
        app,
        ["ingest", str(SAMPLE_DIR / "story.txt"), "--story", "sample", "--llm", "extractive", "--embedder", "hash:64"],
        env=env,
    )
    assert result.exit_code == 0, result.output
    out = home / "train.jsonl"
    result = runner.invoke(
        app,
        [
            "dataset",
            "--story",
            "sample",
            "--out",
            str(out),
            "--format",
            "chat",
            "--llm",
            "extractive",
            "--budget",
            "400",
            "--val-fraction",
            "0.2",
        ],
        env=env,
    )
    assert result.exit_code == 0, result.output
    return home, out, out.with_name("train.val.jsonl")


@pytest.fixture
def server(exported, monkeypatch: pytest.MonkeyPatch) -> Iterator[FineTuneServer]:
    home = exported[0]
    with finetune_server() as srv:
        monkeypatch.setenv("AUTOMUSE_HOME", str(home))
        monkeypatch.setenv("OPENAI_BASE_URL", srv.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        monkeypatch.setenv("AUTOMUSE_FINETUNE_POLL", "0.01")
        monkeypatch.setenv("AUTOMUSE_OPENAI_MAX_RETRIES", "1")
        yield srv


def run(*args: str):
    return CliRunner().invoke(app, list(args))


def manifest_jobs(home: Path) -> list[dict]:
    return json.loads((home / "stores" / "sample" / "story.json").read_text())["finetune_jobs"]


def test_create_wait_uploads_follows_and_prints_the_llm_value(server: FineTuneServer, exported) -> None:
    home, train, val = exported
    result = run(
        "finetune",
        "create",
        "--data",
        str(train),
        "--val",
        str(val),
        "--model",
        BASE,
        "--suffix",
        "pride",
        "--epochs",
        "2",
        "--wait",
    )
    assert result.exit_code == 0, result.output
    # the files reached the server byte for byte, with purpose fine-tune
    contents = sorted(f["content"] for f in server.files.values())
    assert contents == sorted([train.read_bytes(), val.read_bytes()])
    (job,) = server.jobs.values()
    assert job.status == "succeeded" and job.epochs == 2 and job.suffix == "pride"
    assert job.validation_file is not None and job.metadata["automuse_stories"] == "sample"
    assert "leakage audit: passed" in result.output
    assert f"created fine-tuning job {job.id}" in result.output
    for n in (1, 2, 3):  # the events were followed live
        assert f"Step {n}/3" in result.output
    assert f"--llm openai:{job.fine_tuned_model}" in result.output
    # the job is in the story's manifest, with its final state, and `stories` shows it
    (entry,) = [j for j in manifest_jobs(home) if j["id"] == job.id]
    assert entry["status"] == "succeeded" and entry["llm"] == f"openai:{job.fine_tuned_model}"
    rows = json.loads(run("stories", "list", "--json").stdout)
    assert any(j["id"] == job.id for j in rows[0]["finetune_jobs"])
    table = run("stories").stdout
    assert "tuned" in table
    assert f"sample: openai fine-tune {job.id} succeeded: --llm openai:{job.fine_tuned_model}" in table


def test_show_list_cancel_and_follow_a_cancelled_job(server: FineTuneServer, exported) -> None:
    home, train, _ = exported
    created = run("finetune", "create", "--data", str(train), "--model", "endless-base")
    assert created.exit_code == 0, created.output
    (job_id,) = server.jobs
    assert f"automuse finetune follow {job_id}" in created.output
    shown = json.loads(run("finetune", "show", job_id, "--json").stdout)
    assert shown["id"] == job_id and shown["status"] == "queued" and shown["model"] == "endless-base"
    listed = json.loads(run("finetune", "list", "--json").stdout)
    assert [j["id"] for j in listed] == [job_id]
    cancelled = run("finetune", "cancel", job_id)
    assert cancelled.exit_code == 0 and f"{job_id}: cancelled" in cancelled.output
    assert server.jobs[job_id].status == "cancelled"
    assert [j["status"] for j in manifest_jobs(home) if j["id"] == job_id] == ["cancelled"]
    followed = run("finetune", "follow", job_id)
    assert followed.exit_code == 1 and f"error: fine-tuning job {job_id} was cancelled" in followed.stderr
    table = run("finetune", "list").stdout
    assert job_id in table and "cancelled" in table


def test_a_failing_job_prints_its_own_error_and_exits_non_zero(server: FineTuneServer, exported) -> None:
    home, train, _ = exported
    result = run("finetune", "create", "--data", str(train), "--model", "broken-base", "--wait")
    assert result.exit_code == 1
    (job_id,) = server.jobs
    lines = result.stderr.strip().splitlines()
    message = "Training file [messages] has 3 examples with a loss of NaN at step 2."
    assert lines == [f"error: fine-tuning job {job_id} failed: invalid_training_file: {message}"]
    assert f"Job failed: {message}" in result.stdout  # the event, brackets and all (no rich markup)
    assert [j["status"] for j in manifest_jobs(home) if j["id"] == job_id] == ["failed"]
    shown = run("finetune", "show", job_id).stdout
    assert "[messages]" in shown and "NaN at step 2" in shown


@pytest.mark.parametrize(
    ("key", "model", "expected"),
    [
        ("bad-key", BASE, "rejected the API key (401; set OPENAI_API_KEY"),
        ("no-quota", BASE, "quota exhausted at http://127.0.0.1"),
        ("busy", BASE, "kept rate-limiting (429) after 1 retries"),
        ("sk-test", "gpt-9-turbo", "base model 'gpt-9-turbo' cannot be fine-tuned at http://127.0.0.1"),
    ],
)
def test_server_errors_are_one_line(server: FineTuneServer, exported, monkeypatch, key, model, expected) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", key)
    result = run("finetune", "create", "--data", str(exported[1]), "--model", model)
    assert result.exit_code == 3
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and expected in line, line
    assert not server.jobs and not server.files  # an upload without a job is deleted again


def test_missing_key_and_unknown_job(server: FineTuneServer, exported, monkeypatch) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL")
    monkeypatch.delenv("OPENAI_API_KEY")
    result = run("finetune", "create", "--data", str(exported[1]), "--model", BASE)
    assert result.exit_code == 3 and result.stderr.startswith("error: no API key for api.openai.com: set OPENAI_API_KEY")
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    missing = run("finetune", "show", "ftjob-nope")
    assert missing.exit_code == 3 and "no fine-tuning job 'ftjob-nope'" in missing.stderr


def _chat(n: int, **overrides) -> list[dict]:
    base = {
        "messages": [
            {"role": "system", "content": "Write the next passage."},
            {"role": "user", "content": "The story so far."},
            {"role": "assistant", "content": "And then the clock struck."},
        ]
    }
    return [json.loads(json.dumps(base)) for _ in range(n)]


def _write(path: Path, records: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records), encoding="utf-8")
    return path


def test_invalid_files_never_leave_the_machine(server: FineTuneServer, exported, tmp_path: Path) -> None:
    cases = []
    bad_role = _chat(12)
    bad_role[4]["messages"][1]["role"] = "narrator"
    cases.append((bad_role, "line 5: message 2 has role 'narrator' (expected one of system, user, assistant)"))
    empty = _chat(12)
    empty[6]["messages"][2]["content"] = "  "
    cases.append((empty, "line 7: message 3 (assistant) is empty"))
    mixed = [*_chat(11), {"prompt": "a", "completion": "b"}]
    cases.append((mixed, "line 12: a completion record, but line 1 is chat; use one format per file"))
    cases.append(([*_chat(3), "{not json", *_chat(8)], "line 4: not valid JSON"))
    no_answer = _chat(12)
    no_answer[0]["messages"] = no_answer[0]["messages"][:2]
    cases.append((no_answer, "line 1: no assistant message"))
    huge = _chat(12)
    huge[9]["messages"][2]["content"] = "word " * 70_000
    cases.append((huge, "line 10: "))
    cases.append((_chat(4), "holds 4 examples; fine-tuning needs at least 10"))
    completion = [{"prompt": "p", "completion": "c"}] * 12
    cases.append((completion, f"is in prompt/completion format but {BASE} is a chat model"))
    for i, (records, expected) in enumerate(cases):
        path = _write(tmp_path / f"bad{i}.jsonl", records)
        result = run("finetune", "create", "--data", str(path), "--model", BASE, "--wait")
        assert result.exit_code == 2, (expected, result.output)
        (line,) = result.stderr.strip().splitlines()
        assert line.startswith(f"error: {path}") and expected in line, (expected, line)
    assert (
        "over the limit of 65,536 per example for gpt-4o-mini"
        in run("finetune", "create", "--data", str(tmp_path / "bad5.jsonl"), "--model", BASE).stderr
    )
    assert server.requests == []  # nothing was sent


def test_the_leakage_verdict_of_the_export_is_checked(server: FineTuneServer, exported, tmp_path: Path) -> None:
    _, train, _ = exported
    copy = tmp_path / "train.jsonl"
    copy.write_bytes(train.read_bytes())
    meta = json.loads(train.with_name("train.meta.json").read_text())
    (tmp_path / "train.meta.json").write_text(json.dumps({**meta, "audit": "failed", "leakage_violations": 3}))
    result = run("finetune", "create", "--data", str(copy), "--model", BASE)
    assert result.exit_code == 2
    assert "the leakage audit of automuse dataset failed (3 violations" in result.stderr
    # an export edited afterwards is no longer covered by the audit, and says so
    (tmp_path / "train.meta.json").write_text(json.dumps(meta))
    copy.write_bytes(train.read_bytes().replace(b"the", b"teh", 1))
    checked = run("finetune", "create", "--data", str(copy), "--model", BASE, "--dry-run")
    assert checked.exit_code == 0 and "leakage audit: file changed since export" in checked.stdout
    assert server.requests == []


def test_ctrl_c_while_waiting_detaches_without_cancelling(server: FineTuneServer, exported) -> None:
    train = exported[1]
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "200"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "automuse_rag", "finetune", "create", "--data", str(train), "--model", "endless-base", "--wait"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        seen = ""
        deadline = time.monotonic() + 300  # a child that imports the CLI on a loaded machine may take a while
        while "Step 2/" not in seen and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            seen += line
        assert "Step 2/" in seen, seen
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    (job_id,) = server.jobs
    assert proc.returncode == 130, err
    assert f"Reattach with: automuse finetune follow {job_id}" in err and "not cancelled" in err
    assert "Traceback" not in err
    assert server.jobs[job_id].status == "running"
    assert ("POST", f"/v1/fine_tuning/jobs/{job_id}/cancel") not in server.requests
