"""``automuse finetune local``: a few LoRA steps on CPU from the shipped SmolLM2 GGUF.
The training loss falls on a repeated example, the report holds losses and timings,
the merged GGUF loads in llama.cpp and scores the trained text better than the base
model, and ``generate`` writes a chunk with it through ``--llm local:FILE.gguf``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from automuse_rag.cli import app
from automuse_rag.finetune.gguf_merge import (
    deltas_from_adapter,
    head_counts,
    write_merged_gguf,
)
from automuse_rag.generate.plan import CastMember, Plan, PlanChapter, save_plan
from automuse_rag.models.local import LocalChatModel, find_gguf
from automuse_rag.settings import get_settings

pytestmark = pytest.mark.slow
STEPS = 4
TRAIN = {
    "prompt": "From the keeper's log of Hollin Island, the first night:\n",
    "completion": "The lamp burned green over the drowned church, and I counted twelve bells under the bay.",
}
HELD_OUT = {
    "prompt": "From the keeper's log of Hollin Island, the second night:\n",
    "completion": "Again the bells rang under the water, and the gulls would not land on the gallery rail.",
}


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One CLI run: the training file holds one example (so every step repeats the same
    batch) and the validation file another."""
    root = tmp_path_factory.mktemp("ft-local")
    data, val = root / "train.jsonl", root / "val.jsonl"
    data.write_text(json.dumps(TRAIN) + "\n", encoding="utf-8")
    val.write_text(json.dumps(HELD_OUT) + "\n", encoding="utf-8")
    out = root / "tuned"
    result = CliRunner().invoke(
        app,
        [
            "--home",
            str(root),
            "finetune",
            "local",
            "--data",
            str(data),
            "--val",
            str(val),
            "--out",
            str(out),
            "--steps",
            str(STEPS),
            "--lr",
            "1e-3",
            "--rank",
            "8",
            "--targets",
            "attn",
            "--max-length",
            "128",
            "--eval-every",
            str(STEPS),
            "--gguf-dtype",
            "f32",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    return {"root": root, "out": out, "output": result.output, "report": report}


def test_report_shows_the_loss_falling_on_a_repeated_batch(tuned: dict) -> None:
    report = tuned["report"]
    losses = [s["loss"] for s in report["steps"]]
    assert [s["step"] for s in report["steps"]] == list(range(1, STEPS + 1))
    assert losses == sorted(losses, reverse=True) and losses[-1] < losses[0] - 0.3, losses
    assert all(s["seconds"] > 0 and s["tokens"] > 0 for s in report["steps"])
    assert report["seconds_per_step"] == pytest.approx(sum(s["seconds"] for s in report["steps"]) / STEPS)
    # validation NLL before the first step (the base model) and after the last one
    evals = report["evals"]
    assert evals[0]["step"] == 0 and evals[-1]["step"] == STEPS and evals[0]["tokens"] > 10
    assert report["base_val_nll"] == evals[0]["val_nll"] and report["final_val_nll"] == evals[-1]["val_nll"]
    assert report["settings"]["rank"] == 8 and report["settings"]["targets"] == "attn"
    assert report["data"] == {**report["data"], "format": "completion", "train_examples": 1, "val_examples": 1}
    assert (tuned["out"] / "adapter" / "adapter_model.safetensors").is_file()
    # progress and the value to write with
    assert "validation NLL/token" in tuned["output"] and f"{STEPS}/{STEPS}" in tuned["output"]
    assert f"--llm {report['llm']}" in tuned["output"]


def test_the_merged_gguf_is_the_tuned_model_in_llama_cpp(tuned: dict) -> None:
    gguf = Path(tuned["report"]["outputs"]["gguf"])
    assert tuned["report"]["llm"] == f"local:{gguf}"
    settings = get_settings(n_ctx=512, n_threads=1)
    base, tuned_model = LocalChatModel(settings), LocalChatModel(settings, gguf)
    before, n = base.continuation_nll(TRAIN["prompt"], TRAIN["completion"])
    after, n2 = tuned_model.continuation_nll(TRAIN["prompt"], TRAIN["completion"])
    assert n == n2 > 10
    # llama.cpp sees what torch trained: the repeated example got much likelier
    first_loss, last_loss = tuned["report"]["steps"][0]["loss"], tuned["report"]["steps"][-1]["loss"]
    assert after < before - 0.5 * (first_loss - last_loss), (before, after, first_loss, last_loss)
    assert abs(before - first_loss) < 0.5  # the same base weights in both runtimes
    # merging the saved adapter again (no torch) gives the same model: at the training
    # run's f32 exactly; at half precision within its rounding (0.033 nats with
    # llama-cpp-python 0.3.36, under 0.02 with earlier builds)
    n_head, n_kv = head_counts(gguf)
    deltas = deltas_from_adapter(tuned["out"] / "adapter", n_head, n_kv)
    assert len(deltas) == 4 * 30  # q, k, v, o in each of the 30 blocks
    full = write_merged_gguf(find_gguf(), tuned["out"] / "full.gguf", deltas, dtype="f32")
    same, _ = LocalChatModel(settings, full).continuation_nll(TRAIN["prompt"], TRAIN["completion"])
    assert abs(same - after) < 1e-3, (same, after)
    half = write_merged_gguf(find_gguf(), tuned["out"] / "half.gguf", deltas, dtype="f16")
    again, _ = LocalChatModel(settings, half).continuation_nll(TRAIN["prompt"], TRAIN["completion"])
    assert abs(again - after) < 0.05 and half.stat().st_size < gguf.stat().st_size, (again, after)


def test_generate_writes_a_chunk_with_the_tuned_model(tuned: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    # one llama.cpp thread: on the shared test machine two spinning threads were 4x slower
    monkeypatch.setenv("AUTOMUSE_N_THREADS", "1")
    gguf = Path(tuned["report"]["outputs"]["gguf"])
    root = tuned["root"]
    # an edited plan (as after --plan-only), so the test times the writing, not the planning
    save_plan(
        Plan(
            title="The Drowned Bells",
            chapters=[
                PlanChapter(
                    number=1, title="The Bells", plan="The keeper hears bells under the sea and goes down to the shore at night."
                )
            ],
            cast=[CastMember(name="Ada Quill", description="the lighthouse keeper")],
        ),
        root / "stores" / "tuned-novel",
    )
    result = CliRunner().invoke(
        app,
        [
            "--home",
            str(root),
            "generate",
            "--premise",
            "A lighthouse keeper hears bells ringing under the sea.",
            "--story",
            "tuned-novel",
            "--chunks",
            "1",
            "--llm",
            tuned["report"]["llm"],
            "--memory-llm",
            "extractive",
            "--embedder",
            "hash:64",
            "--budget",
            "512",
            "--max-tokens",
            "120",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    done = json.loads(result.stdout)
    assert done["chunks"] == 1 and done["words"] > 10
    state = json.loads((root / "stores" / "tuned-novel" / "generation.json").read_text(encoding="utf-8"))
    assert state["llm"] == f"local:{gguf.stem}"
    assert len(Path(done["manuscript"]).read_text(encoding="utf-8").split()) > 10
