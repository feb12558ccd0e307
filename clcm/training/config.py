"""Training configuration: one frozen dataclass, loaded from YAML, overridden by CLI flags; unknown keys raise."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from clcm.errors import InputError, UsageError

T = TypeVar("T")


@dataclass(frozen=True)
class TrainConfig:
    """Everything ``clcm-train train`` needs. Defaults follow NRCCR's Multi30K scripts (methods.md §1.4, §1.6)."""

    shards: str = ""  # train pair shards (PAIR_SCHEMA or scored pairs): a Parquet file or a directory
    features: str = ""  # visual features: comma-separated specs (.npy[:ids.txt], BigFile dir, .parquet)
    val: str | None = None  # validation queries (caption Parquet or pair shards); None = no validation
    val_split: str | None = None  # use only validation rows of this split; None = every row of `val`
    out_dir: str = "runs/clcm"  # checkpoints, logs, metrics JSON
    objective: str = "nrccr"  # registry name: baseline | nrccr | cl2cm | nrf
    objective_options: dict[str, Any] = field(default_factory=dict)  # the objective's own keys (weights, ...)
    text_model: str = "bert-base-multilingual-cased"  # HF id or local directory
    trainable_layers: list[str] | None = None  # layer-name substrings to train; None = the top `trainable_top_layers`
    trainable_top_layers: int = 9  # NRCCR image datasets train layer.11 ... layer.3 of mBERT
    tgt_lang: str | None = None  # target language to train on; None = the only one in the shards
    lowercase: bool = True  # NRCCR's tokenizer lower-cases and strips accents (do_lower_case=True)
    clean_src: bool = True  # NRCCR's English clean-up (keep [A-Za-z0-9], final period, capitalised)
    max_tokens: int = 250  # the text position table has 250 rows; the reference never truncates
    train_split: str | None = "train"  # train on rows whose split is this (or null); None = every row
    keep_column: str | None = "keep"  # scored shards: train only rows where this bool column is true (null = keep)
    min_score: dict[str, float] = field(default_factory=dict)  # extra filters: column -> minimum value
    weight_column: str | None = None  # score column used as per-sample loss weight (objectives that support it)
    max_frames: int = 64  # frame sequences are cut to the first 64 frames
    epochs: int = 50  # NRCCR max epochs
    batch_size: int = 128  # NRCCR batch
    lr: float = 1e-4  # Adam, no weight decay
    lr_decay: float = 0.99  # multiplied after every epoch
    halve_after: int = 2  # halve lr when an epoch does not improve and the counter exceeds this
    patience: int = 10  # stop after `patience + 1` consecutive non-improving epochs
    grad_clip: float = 2.0  # clip_grad_norm over the main parameters
    max_steps_per_epoch: int | None = None  # cap steps per epoch (smoke tests, quick runs)
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    amp: str = "auto"  # auto (bf16 on GPUs that support it, else fp16) | bf16 | fp16 | off; never on CPU
    seed: int = 0
    num_workers: int = 0  # DataLoader workers
    fusion_weight: float = 0.2  # weight of the MT->English query view at validation (NRCCR sim_ratio)
    eval_batch_size: int = 256
    log_every: int = 10  # steps between CSV/TensorBoard rows
    resume: str | None = None  # checkpoint path (or "last" = out_dir/checkpoint_last.pt)
    progress: bool = True  # progress bars

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)


def parse_options(cls: type[T], options: Mapping[str, Any] | None, what: str) -> T:
    """Build dataclass ``cls`` from a mapping; unknown keys raise UsageError naming the valid ones."""
    options = dict(options or {})
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(options) - names)
    if unknown:
        raise UsageError(f"unknown {what} key(s) {unknown}; valid keys: {sorted(names)}")
    try:
        return cls(**options)
    except TypeError as exc:
        raise UsageError(f"bad {what}: {exc}") from exc


def load_config(
    path: str | Path | None, overrides: Mapping[str, Any] | None = None, explicit: Mapping[str, Any] | None = None
) -> TrainConfig:
    """Read a YAML config (if any), apply ``overrides`` (flags; None = not given) then ``explicit`` values as they
    are (``--set KEY=VALUE``, where ``null`` means None)."""
    values: dict[str, Any] = {}
    if path is not None:
        import yaml

        try:
            loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise InputError(f"cannot read config {path}: {exc}") from exc
        if not isinstance(loaded, dict):
            raise UsageError(f"config {path} must be a mapping of keys to values")
        values.update(loaded)
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    values.update(explicit or {})
    return parse_options(TrainConfig, values, "train config")
