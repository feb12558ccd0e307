"""Training configuration: one frozen dataclass, loaded from YAML, overridden by CLI flags; unknown keys raise."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from clcm.configs import build_config, check_config, load_yaml, max_workers, option
from clcm.errors import UsageError

T = TypeVar("T")


@dataclass(frozen=True)
class TrainConfig:
    """Everything ``clcm-train train`` needs. Defaults follow NRCCR's Multi30K scripts (methods.md §1.4, §1.6)."""

    shards: str = ""  # train pairs: a stage dir (filter: kept/+dropped/, score, import), shard dir, file, glob
    features: str = ""  # visual features: comma-separated specs (.npy[:ids.txt], BigFile dir, .parquet)
    val: str | None = None  # validation queries (caption Parquet or pair shards); None = no validation
    val_split: str | None = None  # use only validation rows of this split; None = every row of `val`
    out_dir: str = "runs/clcm"  # checkpoints, logs, metrics JSON
    objective: str = "nrccr"  # registry name: baseline | nrccr | cl2cm | nrf
    objective_options: dict[str, Any] = field(default_factory=dict)  # the objective's own keys (weights, ...)
    text_model: str = "bert-base-multilingual-cased"  # HF id or local directory
    trainable_layers: list[str] | None = None  # layer-name substrings to train; None = the top `trainable_top_layers`
    trainable_top_layers: int | None = option(None, ge=0)  # None: NRCCR's 7 for frames (VATEX, MSR-VTT-CN), 9 else
    tgt_lang: str | None = None  # target language to train on; None = the only one in the shards
    lowercase: bool = True  # NRCCR's tokenizer lower-cases and strips accents (do_lower_case=True)
    clean_src: bool = True  # NRCCR's English clean-up (keep [A-Za-z0-9], final period, capitalised)
    max_tokens: int | None = option(None, ge=1)  # None: the objective's (NRCCR 250 = its position table; CL2CM 64)
    train_split: str | None = "train"  # train on rows whose split is this (or null); None = every row
    keep_column: str | None = "auto"  # scored shards: train only rows where this bool column is true; null = every
    # row; "auto" = the objective's ("keep"; NRF: null, its contrastive loss sees all pairs, methods.md §3.2)
    min_score: dict[str, float] = field(default_factory=dict)  # extra filters: column -> minimum value
    weight_column: str | None = None  # score column used as per-sample loss weight (objectives that support it)
    max_frames: int = option(64, ge=1)  # frame sequences are cut to the first 64 frames
    epochs: int | None = option(None, ge=1)  # max epochs of a stage without its own; None: the objective's (50; 30)
    batch_size: int = option(128, ge=1)  # NRCCR batch
    lr: float = option(1e-4, gt=0, le=10)  # head learning rate (objectives may scale it per parameter group)
    optimizer: str | None = None  # adam | adamw; None: the objective's (NRCCR, NRF: adam; CL2CM: adamw)
    weight_decay: float | None = option(None, ge=0)  # None: the objective's (0; CL2CM 0.01)
    lr_schedule: str | None = None  # nrccr (x0.99 per epoch, halving) | linear_warmup (per step); None: objective's
    warmup_ratio: float | None = None  # linear_warmup: share of a stage's steps spent warming up (CL2CM 0.1)
    lr_decay: float = option(0.99, gt=0, le=1)  # multiplied after every epoch
    halve_after: int = option(2, ge=0)  # halve lr when an epoch does not improve and the counter exceeds this
    patience: int = option(10, ge=0)  # stop after `patience + 1` consecutive non-improving epochs
    grad_clip: float = option(2.0, gt=0)  # clip_grad_norm over the main parameters
    max_steps_per_epoch: int | None = option(None, ge=1)  # cap steps per epoch (smoke tests, quick runs)
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    amp: str | None = None  # auto (bf16 if supported, else fp16) | bf16 | fp16 | off; never on CPU. None: the
    # objective's (NRCCR: off, the reference trains in fp32; others: auto)
    seed: int = 0
    num_workers: int = option(0, ge=0, le=max_workers)  # DataLoader workers
    fusion_weight: float | None = option(None, ge=0, le=1)  # MT->English query view weight at validation; None:
    # the objective's (NRCCR sim_ratio 0.2; NRF 0.5)
    test_fusion_weight: float | None = option(None, ge=0, le=1)  # the same for `evaluate`; None: 0.5 (NRCCR)
    eval_batch_size: int = option(256, ge=1)
    log_every: int = option(10, ge=1)  # steps between CSV/TensorBoard rows
    resume: str | None = None  # checkpoint path (or "last" = out_dir/checkpoint_last.pt)
    progress: bool = True  # progress bars

    def __post_init__(self) -> None:
        check_config(self)

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)


# What a key left unset (None; keep_column "auto") becomes when the objective declares nothing else for it.
COMMON_DEFAULTS: dict[str, Any] = {
    "epochs": 50,
    "max_tokens": 250,
    "optimizer": "adam",
    "weight_decay": 0.0,
    "lr_schedule": "nrccr",
    "warmup_ratio": 0.0,
    "amp": "auto",
    "fusion_weight": 0.2,
    "test_fusion_weight": 0.5,
    "keep_column": "keep",
}
CHOICES = {
    "optimizer": ("adam", "adamw"),
    "lr_schedule": ("nrccr", "linear_warmup"),
    "amp": ("auto", "bf16", "fp16", "off"),
}


def resolve_defaults(cfg: TrainConfig, declared: Mapping[str, Any], *, frames: bool) -> TrainConfig:
    """Fill the keys ``cfg`` leaves unset from the objective's ``declared`` defaults, then :data:`COMMON_DEFAULTS`.

    Args:
        cfg: the config as loaded (explicit values always win).
        declared: the objective's ``train_defaults`` (e.g. CL2CM's AdamW, warm-up and 64 tokens).
        frames: visual inputs are frame sequences (NRCCR's video datasets train 7 mBERT layers, images 9).
    """
    values = {**COMMON_DEFAULTS, "trainable_top_layers": 7 if frames else 9, **declared}
    changes = {k: v for k, v in values.items() if getattr(cfg, k) is None and k != "keep_column"}
    if cfg.keep_column == "auto":
        changes["keep_column"] = values["keep_column"]
    cfg = cfg.replace(**changes)
    for key, allowed in CHOICES.items():
        if getattr(cfg, key) not in allowed:
            raise UsageError(f"{key} must be one of {', '.join(allowed)}, not {getattr(cfg, key)!r}")
    if not 0.0 <= float(cfg.warmup_ratio or 0.0) < 1.0:
        raise UsageError(f"warmup_ratio must be in [0, 1), not {cfg.warmup_ratio}")
    return cfg


def parse_options(cls: type[T], options: Mapping[str, Any] | None, what: str) -> T:
    """Build dataclass ``cls`` from a mapping with the one config builder (:func:`clcm.configs.build_config`):
    unknown keys, wrong types and out-of-range values raise UsageError naming the key."""
    return build_config(cls, options, what)


def load_config(
    path: str | Path | None, overrides: Mapping[str, Any] | None = None, explicit: Mapping[str, Any] | None = None
) -> TrainConfig:
    """Read a YAML config (if any), apply ``overrides`` (flags; None = not given) then ``explicit`` values as they
    are (``--set KEY=VALUE``, where ``null`` means None)."""
    values: dict[str, Any] = {}
    if path is not None:
        loaded = load_yaml(path, "train config") or {}
        if not isinstance(loaded, dict):
            raise UsageError(f"config {path} must be a mapping of keys to values")
        values.update(loaded)
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    values.update(explicit or {})
    return parse_options(TrainConfig, values, "train config")
