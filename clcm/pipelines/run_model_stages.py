"""The model stages of `clcm-data run`: ``train`` (clcm-train on the data stages' pairs) and ``evaluate``.

Both record their *lineage* in their manifest (and ``evaluate`` in ``metrics.json``): the manifest of every stage
their data came from, nearest first, with its sha256, config hash and counts, so a metric traces back to the
captions it came from. Their fingerprints cover the local files they read besides the input stage's output
(features, text model, validation and test queries), so replacing a feature file re-trains.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from clcm import storage
from clcm.errors import InputError, UsageError
from clcm.pipelines.run_config import build_dataclass
from clcm.pipelines.run_stages import Stage, StageContext, require_upstream, tree_digest
from clcm.schemas import MANIFEST_NAME, Manifest, input_record, input_records, layout, write_manifest
from clcm.schemas.io import write_text_atomic


def lineage(ctx: StageContext) -> list[dict[str, Any]]:
    """The manifests of the stages ``ctx``'s input came from, nearest first (stage, path, sha256, config hash)."""
    chain = []
    up = ctx.upstream
    while up is not None:
        path = storage.join(up.out, MANIFEST_NAME)
        data = storage.read_bytes(path)
        manifest = json.loads(data)
        chain.append(
            {
                "stage": up.name,
                "manifest": path,
                "sha256": hashlib.sha256(data).hexdigest(),
                "config_hash": manifest.get("config_hash"),
                "counts": manifest.get("counts", {}),
            }
        )
        up = up.upstream
    return chain


def feature_paths(spec: str) -> list[str]:
    """The local paths in a ``--features`` spec (comma-separated ``file.npy[:ids.txt]``, BigFile dirs, Parquet)."""
    return [p for part in spec.split(",") if part for p in part.split(":") if p]


class TrainStage(Stage):
    """Train a retrieval model (``clcm-train``) on the input stage's pairs; the section holds TrainConfig keys.

    A filter stage is read whole (``layout.TRAIN_INPUTS``): its dropped pairs count as ``rejected.filtered``."""

    name = "train"

    def build(self, section: Mapping[str, Any], ctx: StageContext) -> Any:
        from clcm.training.config import TrainConfig
        from clcm.training.objectives import OBJECTIVES

        up = require_upstream(ctx, self.name)
        fixed = {"shards": str(up.out), "out_dir": str(ctx.out), "resume": None}
        config = build_dataclass(TrainConfig, {"progress": False, **section}, "train", fixed)
        if not config.features:
            raise UsageError("section 'train': `features` is required (visual features of the train and val media)")
        if config.objective not in OBJECTIVES:
            raise UsageError(f"section 'train': unknown objective {config.objective!r}; choose one of "
                             f"{', '.join(OBJECTIVES)}")  # fmt: skip
        return config

    def fingerprint(self, config: Any, ctx: StageContext) -> dict[str, Any]:
        local = [config.text_model] if os.path.isdir(config.text_model) else []
        return {
            "features": tree_digest(feature_paths(config.features)),
            "val": tree_digest([config.val]) if config.val else None,
            "text_model": tree_digest(local) if local else None,
        }

    def execute(self, config: Any, ctx: StageContext) -> None:
        from clcm.training.metrics import round_floats
        from clcm.training.trainer import train

        up = require_upstream(ctx, self.name)
        try:
            shards = layout.input_files(str(up.out), layout.TRAIN_INPUTS, what="pair shards")
        except InputError:
            raise UsageError(f"nothing to train on: {up.out} holds no pair shards") from None
        summary = train(config)
        data = summary["data"]  # read, kept, dropped_<reason>
        best = summary["best"] or {}
        counts = {
            "read": data["read"],
            "kept": data["kept"],
            "rejected": {k.removeprefix("dropped_"): v for k, v in data.items() if k.startswith("dropped_")},
            "steps": summary["steps"],
        }
        checkpoint = (
            "model_best.pt" if storage.is_file(storage.join(ctx.out, "model_best.pt")) else "checkpoint_last.pt"
        )
        extra = {
            "checkpoint": checkpoint,
            "metrics": "metrics.json",
            "best": round_floats({k: best.get(k) for k in ("stage", "epoch", "step", "t2v_rsum")}),
            "best_val_sumr": round_floats((best.get("val") or {}).get("sumr")),
            "lineage": lineage(ctx),
        }
        manifest = Manifest(
            command="train",
            config=dataclasses.asdict(config),
            counts=counts,
            inputs=input_records(shards),
            models=[{"role": "text_encoder", "id": config.text_model}],
            timings={"step_median_s": round_floats(summary["step_time_s"])},
            extra=extra,
        )
        write_manifest(ctx.out, manifest)


@dataclass(frozen=True)
class EvaluateConfig:
    """The ``evaluate`` section of a run config.

    Args:
        queries: query captions (caption Parquet or pair shards), e.g. the test split in the target language.
        features: visual features of the gallery; None = the train stage's features.
        fusion_weight: weight of the MT->English query view (NRCCR's two-view test scoring); None = the
            checkpoint's ``test_fusion_weight`` (0.5, NRCCR's image tester).
        tgt_lang: query language; None = the language trained on.
        split: use only query rows of this split.
        device: auto | cpu | cuda.
        checkpoint: ``best`` (the best validation epoch; the last epoch when there was no validation) or ``last``.
    """

    queries: str
    features: str | None = None
    fusion_weight: float | None = None
    tgt_lang: str | None = None
    split: str | None = None
    device: str = "auto"
    checkpoint: str = "best"

    def __post_init__(self) -> None:
        if self.checkpoint not in ("best", "last"):
            raise ValueError(f"checkpoint must be 'best' or 'last', not {self.checkpoint!r}")


class EvaluateStage(Stage):
    """Evaluate the train stage's model: ``metrics.json`` (R@K, MedR, mAP, SumR) with the data's lineage."""

    name = "evaluate"

    def build(self, section: Mapping[str, Any], ctx: StageContext) -> Any:
        require_upstream(ctx, self.name)
        return build_dataclass(EvaluateConfig, section, "evaluate")

    def fingerprint(self, config: Any, ctx: StageContext) -> dict[str, Any]:
        features = tree_digest(feature_paths(config.features)) if config.features else None  # else: train's key
        return {"queries": tree_digest([config.queries]), "features": features}

    def execute(self, config: Any, ctx: StageContext) -> None:
        from clcm.training.evaluation import evaluate_checkpoint
        from clcm.training.metrics import round_floats

        up = require_upstream(ctx, self.name)
        trained = json.loads(storage.read_text(storage.join(up.out, MANIFEST_NAME)))
        ckpt = storage.join(
            up.out, trained["extra"]["checkpoint"] if config.checkpoint == "best" else "checkpoint_last.pt"
        )
        features = config.features or trained["config"]["features"]
        metrics = evaluate_checkpoint(
            str(ckpt),
            config.queries,
            features,
            fusion_weight=config.fusion_weight,
            tgt_lang=config.tgt_lang,
            split=config.split,
            device=config.device,
        )
        metrics = round_floats(metrics) | {"lineage": lineage(ctx)}
        write_text_atomic(storage.join(ctx.out, "metrics.json"), json.dumps(metrics, indent=2, sort_keys=True) + "\n")
        paths = [str(ckpt), config.queries, *feature_paths(features)]
        manifest = Manifest(
            command="evaluate",
            config=dataclasses.asdict(config) | {"features": features, "checkpoint_path": str(ckpt)},
            counts={"queries": metrics["n_queries"], "gallery": metrics["n_gallery"]},
            inputs=[input_record(p) if storage.is_file(p) else {"path": p} for p in paths],
            extra={
                "metrics": "metrics.json",
                "sumr": metrics["sumr"],
                "t2v": metrics["t2v"],
                "v2t": metrics["v2t"],
                "lineage": metrics["lineage"],
            },
        )
        write_manifest(ctx.out, manifest)


MODEL_STAGES: dict[str, Stage] = {"train": TrainStage(), "evaluate": EvaluateStage()}
