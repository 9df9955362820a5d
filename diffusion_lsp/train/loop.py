"""The training run: prepare data (corpus, tokenizer, token arrays), train within a time budget,
evaluate on held-out files, export the checkpoint.

Everything the run makes lives in ``work_dir`` (data, resume state, log) and the exported model in
``out_dir``. ``resume=True`` picks up the data and the last resume state from ``work_dir``; the time
budget counts the time already spent.
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from diffusion_lsp.train.corpus import build_corpus, default_roots


@dataclass
class TrainConfig:
    out_dir: str
    work_dir: str
    roots: list[str] = field(default_factory=list)
    default_roots: bool = True
    preset: str = "base"  # train/model.py: the size chosen for the next embedded model
    vocab_size: int = 16384
    max_bytes: int = 300_000_000
    tokenizer_bytes: int = 40_000_000
    heldout_permille: int = 10
    span_fraction: float = 0.35  # share of training files whose spans are extracted
    batch_size: int = 128
    lr: float = 1e-3
    min_lr_ratio: float = 0.05
    warmup_steps: int = 300
    weight_decay: float = 0.1
    hole_fraction: float = 0.5
    noise_share: float = 0.1  # corrective noise: share of corrupted positions given a random token
    time_budget_s: float = 360.0
    max_steps: int = 0  # 0: run until the time budget is spent
    stop_by: float = 0.0  # wall-clock time (epoch seconds) by which training must stop; 0: none
    eval_every_s: float = 60.0
    save_every_s: float = 120.0
    eval_holes: int = 200  # held-out holes per kind in the final evaluation
    device: str = "auto"
    dtype: str = "bfloat16"
    export_dtype: str = "bfloat16"
    workers: int = 0  # 0: all cores
    seed: int = 0
    resume: bool = False
    compile: bool = False


class Log:
    """Prints and appends JSON lines to ``work_dir/train.log.jsonl``."""

    def __init__(self, path: str, echo: Any = print) -> None:
        self.path = path
        self.echo = echo

    def __call__(self, event: str, **fields: Any) -> None:
        fields = {"event": event, "time": round(time.time(), 1), **fields}
        with open(self.path, "a") as f:
            f.write(json.dumps(fields) + "\n")
        self.echo(" ".join(f"{k}={_fmt(v)}" for k, v in fields.items() if k != "time"))


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def prepare(cfg: TrainConfig, log: Log) -> dict[str, Any]:
    """Corpus -> tokenizer -> token arrays in ``work_dir`` (skipped when already there on resume)."""
    from diffusion_lsp.train.data import TokenData, encode_files
    from diffusion_lsp.train.tokenizer import train_tokenizer

    tok_dir = os.path.join(cfg.work_dir, "tokenizer")
    train_path = os.path.join(cfg.work_dir, "train.npz")
    heldout_path = os.path.join(cfg.work_dir, "heldout.jsonl")
    if cfg.resume and os.path.exists(train_path) and os.path.isdir(tok_dir):
        from transformers import AutoTokenizer

        log("prepare", reused=cfg.work_dir)
        with open(heldout_path) as f:
            heldout = [json.loads(line) for line in f]
        return {
            "tokenizer": AutoTokenizer.from_pretrained(tok_dir),
            "train": TokenData.load(train_path),
            "heldout": heldout,
            "languages": _load_languages(cfg.work_dir),
        }
    t0 = time.time()
    workers = cfg.workers or os.cpu_count() or 1
    roots = (default_roots() if cfg.default_roots else []) + list(cfg.roots)
    corpus = build_corpus(
        roots,
        max_bytes=cfg.max_bytes,
        heldout_permille=cfg.heldout_permille,
        seed=cfg.seed,
        workers=workers,
    )
    if not corpus.train:
        raise SystemExit(f"no source files found under {roots}")
    log("corpus", summary=corpus.summary(), roots=roots, seconds=round(time.time() - t0, 1))
    languages = corpus_languages(corpus.train)
    with open(os.path.join(cfg.work_dir, "languages.json"), "w") as f:
        json.dump(languages, f)
    t1 = time.time()
    rng = random.Random(cfg.seed)
    sample, size = [], 0
    for f in rng.sample(corpus.train, len(corpus.train)):
        if size >= cfg.tokenizer_bytes:
            break
        sample.append(f.text)
        size += len(f.text)
    tokenizer = train_tokenizer(sample, vocab_size=cfg.vocab_size)
    tokenizer.save_pretrained(tok_dir)
    log(
        "tokenizer",
        vocab=len(tokenizer),
        sample_mb=round(size / 1e6, 1),
        seconds=round(time.time() - t1, 1),
    )
    t2 = time.time()
    data = encode_files(
        [(f.text, f.language) for f in corpus.train],
        tokenizer,
        workers=workers,
        seed=cfg.seed,
        span_fraction=cfg.span_fraction,
    )
    data.save(train_path)
    chars = sum(len(f.text) for f in corpus.train)
    log(
        "encode",
        tokens=int(len(data.tokens)),
        spans=int(len(data.spans)),
        chars_per_token=round(chars / max(1, len(data.tokens)), 2),
        seconds=round(time.time() - t2, 1),
    )
    heldout = [{"path": f.path, "language": f.language, "text": f.text} for f in corpus.heldout]
    with open(heldout_path, "w") as f:
        for item in heldout:
            f.write(json.dumps(item) + "\n")
    return {"tokenizer": tokenizer, "train": data, "heldout": heldout, "languages": languages}


def corpus_languages(files: Any) -> dict[str, int]:
    """{language: bytes} of the training files, largest first: the model card names each."""
    out: dict[str, int] = {}
    for f in files:
        out[f.language] = out.get(f.language, 0) + len(f.text)
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def _load_languages(work_dir: str) -> dict[str, int]:
    path = os.path.join(work_dir, "languages.json")
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return json.load(f)


def _lr(cfg: TrainConfig, step: int, frac: float) -> float:
    """Linear warm-up by steps, then cosine decay to ``min_lr_ratio`` over the time budget."""
    warm = min(1.0, (step + 1) / max(1, cfg.warmup_steps))
    frac = min(1.0, max(0.0, frac))
    decay = cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * frac))
    return cfg.lr * warm * decay


def train(cfg: TrainConfig, echo: Any = print) -> dict[str, Any]:
    """Run the whole recipe; returns the final metrics (also written to ``out_dir``'s metrics.json)."""
    import torch
    from tqdm.auto import tqdm

    from diffusion_lsp.train.masking import (
        MaskingConfig,
        diffusion_loss,
        hole_rows,
        make_batch,
        random_rate_rows,
    )
    from diffusion_lsp.train.metrics import evaluate_export, heldout_batches, heldout_loss
    from diffusion_lsp.train.model import (
        PRESETS,
        build_config,
        build_model,
        count_parameters,
        export,
    )
    from diffusion_lsp.train.tokenizer import special_ids

    os.makedirs(cfg.work_dir, exist_ok=True)
    log = Log(os.path.join(cfg.work_dir, "train.log.jsonl"), echo)
    log("config", **asdict(cfg))
    prep = prepare(cfg, log)
    tokenizer, data = prep["tokenizer"], prep["train"]
    preset = PRESETS[cfg.preset]
    special = special_ids(tokenizer)

    device = torch.device(
        ("cuda" if torch.cuda.is_available() else "cpu") if cfg.device == "auto" else cfg.device
    )
    torch.manual_seed(cfg.seed)
    config = build_config(preset, special, len(tokenizer))
    model = build_model(config).to(device)
    n_all, n_body = count_parameters(model)
    log("model", preset=cfg.preset, parameters=n_all, non_embedding=n_body, device=str(device))

    tokens = torch.from_numpy(data.tokens.astype("int32")).to(device)
    spans = torch.from_numpy(data.spans[:, :2].copy()).to(device)
    mcfg = MaskingConfig(
        special["mask_token_id"],
        special["null_token_id"],
        preset.seq_len,
        hole_fraction=cfg.hole_fraction,
        noise_share=cfg.noise_share,
        noise_ids=(max(special.values()) + 1, len(tokenizer)),
    )

    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (decay if p.ndim >= 2 and "embeddings" not in name else no_decay).append(p)
    opt = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": cfg.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=cfg.lr,
        betas=(0.9, 0.98),
        eps=1e-8,
        fused=device.type == "cuda",
    )
    state_path = os.path.join(cfg.work_dir, "resume.pt")
    step, spent, tokens_seen = 0, 0.0, 0
    gen = torch.Generator(device=device)
    gen.manual_seed(cfg.seed)
    if cfg.resume and os.path.exists(state_path):
        state = torch.load(state_path, map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        step, spent, tokens_seen = state["step"], state["spent"], state["tokens_seen"]
        gen.manual_seed(cfg.seed + step)
        log("resume", step=step, spent_s=round(spent, 1))

    # fixed held-out batches for the held-out loss
    heldout_files = [(h["path"], h["language"], h["text"]) for h in prep["heldout"]]
    held = heldout_batches(heldout_files, tokenizer, mcfg, device, random_rate_rows, hole_rows)
    forward = torch.compile(model) if cfg.compile else model
    amp = torch.autocast(
        device_type=device.type, dtype=getattr(torch, cfg.dtype), enabled=cfg.dtype != "float32"
    )

    def save_state() -> None:
        torch.save(
            {
                "model": model.state_dict(),
                "optimizer": opt.state_dict(),
                "step": step,
                "spent": spent,
                "tokens_seen": tokens_seen,
            },
            state_path + ".tmp",
        )
        os.replace(state_path + ".tmp", state_path)

    budget = cfg.time_budget_s
    if cfg.stop_by:
        budget = max(0.0, min(budget, spent + cfg.stop_by - time.time()))
        log("budget", train_seconds=round(budget, 1))
    bar = tqdm(
        total=int(budget), initial=int(spent), unit="s", desc="train", mininterval=5, disable=None
    )
    last_eval = last_save = last_log = time.time()
    window_tokens, window_t0 = 0, time.time()
    t_start = time.time() - spent
    model.train()
    while True:
        spent = time.time() - t_start
        if spent >= budget or (cfg.max_steps and step >= cfg.max_steps):
            break
        lr = _lr(cfg, step, spent / budget)
        for g in opt.param_groups:
            g["lr"] = lr
        batch = make_batch(tokens, spans, cfg.batch_size, mcfg, gen)
        with amp:
            loss, stats = diffusion_loss(forward, batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gnorm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        n_tok = batch.input_ids.numel()
        tokens_seen += n_tok
        window_tokens += n_tok
        now = time.time()
        if now - last_log >= 10 or step == 1:
            loss_v = float(loss.detach())
            if not math.isfinite(loss_v):
                raise FloatingPointError(f"loss is {loss_v} at step {step}")
            tps = window_tokens / max(1e-9, now - window_t0)
            log(
                "step",
                step=step,
                loss=loss_v,
                masked_ce=float(stats["ce"]),
                masked_acc=float(stats["acc"]),
                grad_norm=float(gnorm),
                lr=lr,
                tokens_per_s=round(tps),
                tokens_seen=tokens_seen,
                spent_s=round(spent, 1),
            )
            last_log, window_tokens, window_t0 = now, 0, now
        if now - last_eval >= cfg.eval_every_s:
            log("heldout", step=step, **heldout_loss(model, held, amp))
            model.train()
            last_eval = time.time()
        if now - last_save >= cfg.save_every_s:
            save_state()
            last_save = time.time()
        bar.update(int(time.time() - t_start) - bar.n)
    bar.close()
    spent = time.time() - t_start
    save_state()
    final = {
        "step": step,
        "tokens_seen": tokens_seen,
        "train_seconds": round(spent, 1),
        "tokens_per_s": round(tokens_seen / max(spent, 1e-9)),
    }
    final["heldout_loss"] = heldout_loss(model, held, amp)
    log("trained", **final)

    # export, then evaluate the exported checkpoint as shipped (its dtype) through from_pretrained
    model.eval()
    export_model = model.to(getattr(torch, cfg.export_dtype))
    card = {
        "diffusion_lsp": {
            "recipe": "diffusion-lsp train",
            "preset": cfg.preset,
            # automatic inline suggestions only in these (lsp/features/inline_completion.py); the corpus caps every
            # other language at 10% of the bytes
            "languages": ["python"],
            "train_languages": prep["languages"],  # {language: bytes} the model was trained on
            "objective": {
                "hole_fraction": cfg.hole_fraction,
                "noise_share": cfg.noise_share,
                "pause_holes": True,
            },
            "parameters": n_all,
            "non_embedding_parameters": n_body,
            "train_tokens": tokens_seen,
            "train_seconds": round(spent, 1),
            "steps": step,
            "seq_len": preset.seq_len,
            "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        }
    }
    files = export(export_model, tokenizer, cfg.out_dir, extra=card)
    log(
        "export",
        out_dir=cfg.out_dir,
        files=files,
        bytes=sum(os.path.getsize(os.path.join(cfg.out_dir, f)) for f in files),
    )
    final["holes"] = evaluate_export(
        cfg.out_dir,
        cfg.work_dir,
        heldout_files,
        holes_per_kind=cfg.eval_holes,
        seed=cfg.seed,
        device=str(device),
        log=log,
    )
    with open(os.path.join(cfg.work_dir, "metrics.json"), "w") as f:
        json.dump(final, f, indent=2)
    return final
