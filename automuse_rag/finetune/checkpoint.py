"""Checkpoints of a local fine-tune (``automuse finetune local``), so a long run can go
in parts and survive an interruption.

Every ``--checkpoint-every`` steps the run writes ``DIR/checkpoints/step-NNNNNN.pt``
(written to a temporary name and renamed, so a kill mid-write leaves the previous one
whole) and keeps the last :data:`KEEP`. A checkpoint holds what the next step depends
on: the LoRA weights, AdamW's state, the step (the learning rate is a function of it),
the data order still to come with the state of the generator that shuffles it, torch's
random state (LoRA dropout draws from it), and the report's losses and evaluations so
far. ``--resume`` loads the latest and goes on from its step, so a run killed and
resumed ends with the adapter an uninterrupted run ends with (tested). The options that
shape the training and the data files' SHA-256 are recorded and must match.

A run that finishes its steps removes its checkpoints; one stopped part-way keeps
them, and a new run into that directory is refused until it is resumed or they are
removed (a fresh run must not mix with an earlier run's checkpoints).
"""

from __future__ import annotations

import hashlib
import os
import random
from pathlib import Path
from typing import Any

from automuse_rag.errors import InputError

CHECKPOINTS = "checkpoints"
KEEP = 2
FORMAT = 1
#: Options a resumed run must share with the checkpoint (``gguf_dtype`` and the
#: thread count may change: they do not shape the training).
SAME = (
    "steps",
    "lr",
    "rank",
    "alpha",
    "dropout",
    "batch",
    "max_length",
    "val_fraction",
    "val_max",
    "eval_every",
    "warmup",
    "seed",
    "targets",
    "precision",
)


def checkpoint_dir(out: Path) -> Path:
    return Path(out) / CHECKPOINTS


def checkpoints(out: Path) -> list[Path]:
    """The run's checkpoints, oldest first."""
    folder = checkpoint_dir(out)
    return sorted(folder.glob("step-*.pt")) if folder.is_dir() else []


def latest(out: Path) -> Path | None:
    found = checkpoints(out)
    return found[-1] if found else None


def _sha256(path: Path | None) -> str | None:
    if path is None:
        return None
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fingerprint(settings: dict[str, Any], data: Path, val: Path | None) -> dict[str, Any]:
    """What a resumed run must share with the checkpoint: the training options and the
    data files' contents."""
    return {**{key: settings.get(key) for key in SAME}, "data_sha256": _sha256(data), "val_sha256": _sha256(val)}


def check_start(out: Path, resume: bool) -> Path | None:
    """Before any work: the checkpoint ``--resume`` continues from (an InputError when
    there is none), or None for a fresh run (an InputError when the directory holds an
    earlier run's checkpoints)."""
    found = latest(out)
    if resume and found is None:
        raise InputError(f"no checkpoint to resume in {checkpoint_dir(out)} (run without --resume to start)")
    if not resume and found is not None:
        raise InputError(
            f"{checkpoint_dir(out)} holds checkpoints of an earlier run: add --resume to continue it, "
            "or remove that directory to start again"
        )
    return found


def save(out: Path, state: dict[str, Any]) -> Path:
    """Write ``state`` as the checkpoint of its step and keep the last :data:`KEEP`."""
    import torch

    folder = checkpoint_dir(out)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"step-{int(state['step']):06d}.pt"
    tmp = path.with_name(path.name + ".tmp")
    torch.save({**state, "format": FORMAT}, tmp)
    os.replace(tmp, path)
    for old in checkpoints(out)[:-KEEP]:
        old.unlink()
    return path


def load(path: Path, expected: dict[str, Any]) -> dict[str, Any]:
    """The checkpoint at ``path``; an InputError if it cannot be read or was made by a
    run with other options or data (``expected``: :func:`fingerprint`)."""
    import torch

    try:
        state: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, ValueError) as exc:
        raise InputError(f"cannot read the checkpoint {path}: {exc}") from None
    if state.get("format") != FORMAT:
        raise InputError(f"{path} is not a checkpoint this version can resume (format {state.get('format')})")
    saved = state.get("fingerprint", {})
    for key, value in expected.items():
        if saved.get(key) != value:
            what = (
                f"another {'validation' if key.startswith('val') else 'training'} file"
                if key.endswith("sha256")
                else f"--{key.replace('_', '-')} {saved.get(key)!r}, not {value!r}"
            )
            raise InputError(f"the checkpoint {path} was made with {what}: resume with the run's own options and data")
    return state


def capture(
    step: int, model: Any, optimizer: Any, order: list[int], rng: random.Random, report: dict[str, Any], seconds: float
) -> dict[str, Any]:
    """The state after ``step`` steps: what :func:`restore` needs to go on exactly."""
    import torch

    return {
        "step": step,
        "fingerprint": report["fingerprint"],
        "lora": {name: p.detach().clone() for name, p in model.named_parameters() if p.requires_grad},
        "optimizer": optimizer.state_dict(),
        "order": list(order),
        "python_rng": _rng_state(rng),
        "torch_rng": torch.get_rng_state(),
        "steps": list(report["steps"]),
        "evals": list(report["evals"]),
        "train_seconds": seconds,
    }


def restore(state: dict[str, Any], model: Any, optimizer: Any, rng: random.Random, report: dict[str, Any]) -> list[int]:
    """Put ``state`` back into the model, the optimizer, the order's generator and the
    report; the data order still to come."""
    import torch

    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, value in state["lora"].items():
            params[name].copy_(value)
    optimizer.load_state_dict(state["optimizer"])
    version, internal, gauss = state["python_rng"]
    rng.setstate((version, tuple(internal), gauss))
    torch.set_rng_state(state["torch_rng"])
    report["steps"], report["evals"] = list(state["steps"]), list(state["evals"])
    report.setdefault("resumed_at", []).append(int(state["step"]))
    return list(state["order"])


def _rng_state(rng: random.Random) -> list[Any]:
    version, internal, gauss = rng.getstate()
    return [version, list(internal), gauss]  # lists load under torch.load(weights_only=True)


def clear(out: Path) -> None:
    """Remove the run's checkpoints (it finished its steps)."""
    for path in checkpoints(out):
        path.unlink()
    with_tmp = checkpoint_dir(out)
    if with_tmp.is_dir():
        for tmp in with_tmp.glob("*.tmp"):
            tmp.unlink()
        if not any(with_tmp.iterdir()):
            with_tmp.rmdir()
