"""``automuse finetune local --resume``: a run killed part-way and resumed from its
latest checkpoint ends with the losses and the adapter of an uninterrupted run; the
checkpoints rotate (the last two kept) and a finished run removes them."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from automuse_rag.finetune import checkpoint
from automuse_rag.finetune.local import LocalOptions, load_base, train_local
from automuse_rag.settings import get_settings

pytestmark = pytest.mark.slow
STEPS, EVERY, KILL_AFTER = 5, 1, 4
EXAMPLES = [
    {"prompt": f"From the keeper's log of Hollin Island, night {n}:\n", "completion": text}
    for n, text in enumerate(
        [
            "The lamp burned green over the drowned church, and I counted twelve bells under the bay.",
            "Again the bells rang under the water, and the gulls would not land on the gallery rail.",
            "No ship passed. The tide left a line of black weed on the stair, higher than the last.",
        ]
    )
]


class Killed(Exception):
    """Stands for a SIGKILL: the run stops between two steps and its process state is lost."""


def _options() -> LocalOptions:
    # dropout stays on (LoRA dropout draws from torch's random state), three examples
    # reshuffled each pass (the order's generator), a warm-up and a cosine decay
    return LocalOptions(
        steps=STEPS, lr=1e-3, rank=4, targets="attn", max_length=96, eval_every=2, warmup=1, checkpoint_every=EVERY
    )


def _adapter(out: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(out / "adapter" / "adapter_model.safetensors"))


def test_a_killed_run_resumed_ends_like_an_unbroken_one(tmp_path: Path) -> None:
    cfg = get_settings(home=tmp_path, n_threads=1)
    data, val = tmp_path / "train.jsonl", tmp_path / "val.jsonl"
    data.write_text("".join(json.dumps(e) + "\n" for e in EXAMPLES), encoding="utf-8")
    val.write_text(json.dumps({**EXAMPLES[0], "completion": "The bells again."}) + "\n", encoding="utf-8")
    base = load_base(cfg)

    def run(out: Path, *, resume: bool = False, kill_after: int = 0) -> dict:
        def progress(kind: str, details: dict) -> None:
            if kind == "step" and details["step"] == kill_after:
                raise Killed

        loaded = (copy.deepcopy(base[0]), base[1], base[2])  # a fresh base, as a new process loads it
        return train_local(cfg, data, out, _options(), val=val, progress=progress, loaded=loaded, resume=resume).report

    whole = run(tmp_path / "whole")
    assert not (tmp_path / "whole" / "checkpoints").exists()  # finished: nothing left to resume

    parts = tmp_path / "parts"
    with pytest.raises(Killed):
        run(parts, kill_after=KILL_AFTER)
    kept = [p.name for p in checkpoint.checkpoints(parts)]
    # a checkpoint after every step, the last two kept; killed as step 4 ended, before its own
    assert kept == ["step-000002.pt", "step-000003.pt"]
    resumed = run(parts, resume=True)

    assert resumed["resumed_at"] == [3] and [s["step"] for s in resumed["steps"]] == list(range(1, STEPS + 1))
    loss = [s["loss"] for s in whole["steps"]]
    assert [s["loss"] for s in resumed["steps"]] == pytest.approx(loss, abs=1e-5)
    assert [e["val_nll"] for e in resumed["evals"]] == pytest.approx([e["val_nll"] for e in whole["evals"]], abs=1e-5)
    assert len(set(loss)) == STEPS  # the steps differ: a resume that replayed one step would show
    a, b = _adapter(tmp_path / "whole"), _adapter(parts)
    assert a.keys() == b.keys() and len(a) > 0
    assert max(float((a[k] - b[k]).abs().max()) for k in a) < 1e-5
    assert not (parts / "checkpoints").exists()
