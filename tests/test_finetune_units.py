"""Quick checks of the fine-tuning helpers: the row order of Q/K deltas in the GGUF
is the inverse of the one transformers applies when it loads a GGUF, module names map
to GGUF tensors, the per-example limits, the learning-rate schedule, and the story
manifest record under the story's lock."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from automuse_rag.errors import StoreError
from automuse_rag.finetune import record
from automuse_rag.finetune.data import split
from automuse_rag.finetune.gguf_merge import gguf_tensor_name, permute_rows
from automuse_rag.finetune.jsonl_check import DEFAULT_LIMIT, example_limit
from automuse_rag.finetune.local import lr_at
from automuse_rag.memory.locking import StoryLock
from automuse_rag.settings import get_settings


@pytest.mark.parametrize(("rows", "n_head", "n_kv"), [(576, 9, 9), (192, 9, 3)])
def test_permute_rows_undoes_the_transformers_gguf_loader(rows: int, n_head: int, n_kv: int) -> None:
    from transformers.modeling_gguf_pytorch_utils import LlamaTensorProcessor

    weight = np.random.default_rng(0).standard_normal((rows, 576)).astype(np.float32)
    loaded = LlamaTensorProcessor(config={})._reverse_permute_weights(weight, n_head, n_kv)
    assert not np.array_equal(loaded, weight)
    assert np.array_equal(permute_rows(loaded, n_kv), weight)


def test_module_names_map_to_gguf_tensors() -> None:
    assert gguf_tensor_name("base_model.model.model.layers.12.self_attn.q_proj") == ("blk.12.attn_q.weight", "attn_q")
    assert gguf_tensor_name("base_model.model.model.layers.0.mlp.down_proj") == ("blk.0.ffn_down.weight", "ffn_down")
    assert gguf_tensor_name("base_model.model.lm_head") is None


def test_example_limits() -> None:
    assert example_limit("gpt-4o-mini-2024-07-18") == 65_536
    assert example_limit("gpt-4o-2024-08-06") == 65_536
    assert example_limit("gpt-3.5-turbo-0125") == 16_385
    assert example_limit("ft:gpt-4o-mini-2024-07-18:org::abc") == 65_536
    assert example_limit("my-local-model") == DEFAULT_LIMIT


def test_learning_rate_warms_up_then_decays_to_a_tenth() -> None:
    rates = [lr_at(s, 100, 1e-3, 10) for s in range(100)]
    assert rates[0] == pytest.approx(1e-4) and rates[9] == pytest.approx(1e-3)
    assert all(a >= b for a, b in itertools.pairwise(rates[9:]))
    assert rates[-1] == pytest.approx(1e-4, rel=0.01)


def test_split_is_seeded_and_holds_out_at_least_one() -> None:
    items = list(range(20))
    train, held = split(items, 0.1, seed=3)
    assert len(held) == 2 and sorted(train + held) == items
    assert split(items, 0.1, seed=3) == (train, held)
    assert len(split([1, 2], 0.01, seed=0)[1]) == 1


def test_record_job_upserts_under_the_story_lock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from automuse_rag.memory.catalog import read_manifest
    from automuse_rag.memory.story import StoryMemory
    from automuse_rag.models.fake import HashEmbedder

    settings = get_settings(home=tmp_path)
    directory = tmp_path / "stores" / "pride"
    with StoryLock(directory, "pride"):
        StoryMemory.create(settings, "pride", embedder=HashEmbedder(8), llm_name="extractive", source="x").close()
    record.record_job(settings, "pride", {"id": "ftjob-1", "backend": "openai", "status": "queued", "model": "m"})
    record.record_job(settings, "pride", {"id": "ftjob-1", "status": "succeeded", "llm": "openai:ft:m:x", "model": None})
    manifest = read_manifest(directory)  # from state.sqlite, the source of truth
    assert manifest["chunks_done"] == 0 and manifest["source"] == "x"
    assert json.loads((directory / "story.json").read_text())["finetune_jobs"] == manifest["finetune_jobs"]
    (entry,) = manifest["finetune_jobs"]
    assert entry["status"] == "succeeded" and entry["model"] == "m" and entry["llm"] == "openai:ft:m:x"
    assert record.stories_with_job(settings, "ftjob-1") == ["pride"]
    # another process holding the story: the job is not recorded and we say so
    monkeypatch.setattr(record, "LOCK_WAIT", 0.3)
    with StoryLock(directory, "pride"), pytest.raises(StoreError, match="story pride is busy"):
        record.record_job(settings, "pride", {"id": "ftjob-2", "status": "queued"})
    with pytest.raises(StoreError, match="no story"):
        record.record_job(settings, "missing", {"id": "ftjob-3"})


def test_resume_without_a_checkpoint_and_a_fresh_run_over_one_are_one_line_errors(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from automuse_rag.cli import app

    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"prompt": "a", "completion": "b"}) + "\n", encoding="utf-8")
    out = tmp_path / "tuned"
    args = ["--home", str(tmp_path), "finetune", "local", "--data", str(data), "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "--resume"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.output.strip().splitlines() == [
        f"error: no checkpoint to resume in {out / 'checkpoints'} (run without --resume to start)"
    ]
    (out / "checkpoints").mkdir(parents=True)
    (out / "checkpoints" / "step-000025.pt").write_bytes(b"")
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1
    assert "holds checkpoints of an earlier run: add --resume" in result.output


def test_checkpoints_rotate_and_refuse_other_options_or_data(tmp_path: Path) -> None:
    import torch

    from automuse_rag.errors import InputError
    from automuse_rag.finetune import checkpoint

    data = tmp_path / "d.jsonl"
    data.write_text("x\n", encoding="utf-8")
    settings = {"steps": 60, "lr": 5e-4, "rank": 8, "seed": 0}
    mark = checkpoint.fingerprint(settings, data, None)
    for step in (5, 10, 15):
        checkpoint.save(tmp_path, {"step": step, "fingerprint": mark, "w": torch.full((2,), float(step))})
    assert [p.name for p in checkpoint.checkpoints(tmp_path)] == ["step-000010.pt", "step-000015.pt"]
    latest = checkpoint.check_start(tmp_path, resume=True)
    assert latest is not None and float(checkpoint.load(latest, mark)["w"][0]) == 15.0
    with pytest.raises(InputError, match="--steps 60, not 80"):
        checkpoint.load(latest, checkpoint.fingerprint({**settings, "steps": 80}, data, None))
    data.write_text("y\n", encoding="utf-8")
    with pytest.raises(InputError, match="another training file"):
        checkpoint.load(latest, checkpoint.fingerprint(settings, data, None))
    checkpoint.clear(tmp_path)
    assert checkpoint.latest(tmp_path) is None and not (tmp_path / "checkpoints").exists()
