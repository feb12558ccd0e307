"""The training loop: data, objective stages, Adam with NRCCR's schedule, AMP, DDP, checkpoints, logs, metrics.

``train(cfg)`` runs every stage of the objective; after each epoch it validates (t2v R@1+R@5+R@10 on the fused
score), writes ``checkpoint_last.pt`` (and ``model_best.pt`` on improvement), ``epochs.csv``/``steps.csv``,
TensorBoard events and ``metrics.json``. ``cfg.resume`` continues exactly from a checkpoint.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from clcm.errors import InputError, UsageError
from clcm.training import checkpoint
from clcm.training.config import TrainConfig
from clcm.training.data import PairCollate, load_pairs, load_queries, move_batch
from clcm.training.evaluation import evaluate
from clcm.training.features import load_features
from clcm.training.models import top_layers
from clcm.training.objectives import build_objective, objective_class
from clcm.training.objectives.base import BuildContext, Objective, Stage
from clcm.training.runtime import amp_dtype, load_tokenizer, make_tokenize, resolve_device, seed_everything
from clcm.training.schedule import Schedule

log = logging.getLogger(__name__)


class Trainer:
    """Holds the run state; ``run()`` trains every stage and returns the metrics summary."""

    def __init__(self, cfg: TrainConfig) -> None:
        if not cfg.shards or not cfg.features:
            raise UsageError("training needs --shards and --features")
        objective_class(cfg.objective)  # fail early on an unknown objective
        self.cfg = cfg
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.device = resolve_device(cfg.device)
        if self.world > 1:
            self._init_distributed()
        self.out = Path(cfg.out_dir)
        self.out.mkdir(parents=True, exist_ok=True)
        seed_everything(cfg.seed)
        self.store = load_features(cfg.features)
        self.pairs = load_pairs(cfg)
        self.cfg = cfg = cfg.replace(tgt_lang=self.pairs.tgt_lang)
        self.store.check(self.pairs.media_ids, f"the training pairs ({cfg.shards})")
        self.queries = load_queries(cfg.val, cfg.tgt_lang, cfg.val_split) if cfg.val else None
        if self.queries is not None:
            self.store.check(self.queries.media_ids, f"the validation queries ({cfg.val})")
        tokenizer, hf_config = load_tokenizer(cfg.text_model)
        self.tokenize = make_tokenize(cfg, tokenizer)
        layers = cfg.trainable_layers
        if layers is None:
            layers = list(top_layers(int(hf_config.num_hidden_layers), cfg.trainable_top_layers))
        self.ctx = BuildContext(
            text_model=cfg.text_model,
            visual_dim=self.store.dim,
            frames=self.store.is_frames,
            trainable_layers=tuple(layers),
            options=dict(cfg.objective_options),
        )
        self.objective: Objective = build_objective(cfg.objective, self.ctx).to(self.device)
        self.model: torch.nn.Module = self.objective
        if self.world > 1:
            self._wrap_ddp()
        self.amp = amp_dtype(cfg, self.device)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp == torch.float16)
        self.history: list[dict[str, Any]] = []
        self.step = 0
        self.step_times: list[float] = []

    # -- distributed ----------------------------------------------------------------------------------------------
    def _init_distributed(self) -> None:
        backend = "nccl" if self.device.type == "cuda" else "gloo"
        torch.distributed.init_process_group(backend)
        if self.device.type == "cuda":
            local = int(os.environ.get("LOCAL_RANK", "0"))
            torch.cuda.set_device(local)
            self.device = torch.device("cuda", local)

    def _wrap_ddp(self) -> None:
        from torch.nn.parallel import DistributedDataParallel as DDP

        aux = {id(p) for m in self.objective.aux_modules() for p in m.parameters()}
        ignore = [n for n, p in self.objective.named_parameters() if id(p) in aux]
        DDP._set_params_and_buffers_to_ignore_for_model(self.objective, ignore)
        ids = [self.device.index] if self.device.type == "cuda" else None
        self.model = DDP(self.objective, device_ids=ids, find_unused_parameters=True)

    def _share(self, value: float | None) -> float | None:
        """Broadcast rank 0's validation metric (None = not validated) to every rank."""
        if self.world == 1:
            return value
        t = torch.tensor([math.nan if value is None else value], dtype=torch.float64, device=self.device)
        torch.distributed.broadcast(t, 0)
        return None if math.isnan(t.item()) else t.item()

    @property
    def main_rank(self) -> bool:
        return self.rank == 0

    # -- pieces ---------------------------------------------------------------------------------------------------
    def _loader(self, epoch_key: int) -> torch.utils.data.DataLoader:
        from torch.utils.data import DataLoader, DistributedSampler

        indices = list(range(len(self.pairs)))
        sampler = DistributedSampler(
            indices, num_replicas=self.world, rank=self.rank, shuffle=True, seed=self.cfg.seed
        )
        sampler.set_epoch(epoch_key)
        collate = PairCollate(self.pairs, self.store, self.tokenize, self.cfg.max_frames)
        return DataLoader(
            indices,
            batch_size=self.cfg.batch_size,
            sampler=sampler,
            collate_fn=collate,
            num_workers=self.cfg.num_workers,
        )

    def _main_params(self, optimizer: torch.optim.Optimizer) -> list[torch.nn.Parameter]:
        return [p for g in optimizer.param_groups for p in g["params"]]

    def _train_step(self, batch: dict[str, Any], stage: Stage, optimizer: torch.optim.Optimizer) -> dict[str, float]:
        batch = move_batch(batch, self.device)
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(self.device.type, dtype=self.amp or torch.float32, enabled=self.amp is not None):
            terms = dict(self.model(batch, stage))
            terms.update(self.objective.before_backward(batch, stage))
        losses = [v.float() for k, v in terms.items() if k.endswith("_loss")]
        if not losses:
            raise RuntimeError(f"objective {self.cfg.objective} returned no *_loss terms")
        total = torch.stack(losses).sum()
        self.scaler.scale(total).backward()
        self.scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(self._main_params(optimizer), self.cfg.grad_clip)
        self.scaler.step(optimizer)
        self.scaler.update()
        row = {k: float(v.detach()) for k, v in terms.items()}
        row["loss"] = float(total.detach())
        return row

    def _validate(self, stage: Stage) -> dict[str, Any] | None:
        if self.queries is None or not stage.validate or not self.main_rank:
            return None
        return evaluate(
            self.objective,
            self.tokenize,
            self.store,
            self.queries,
            fusion_weight=self.cfg.fusion_weight,
            device=self.device,
            batch_size=self.cfg.eval_batch_size,
            max_frames=self.cfg.max_frames,
        )

    def _payload(self, stage_index: int, epoch: int, optimizer, schedule: Schedule) -> dict[str, Any]:
        return {
            "objective": self.cfg.objective,
            "context": checkpoint.context_dict(self.ctx),
            "config": {k: v for k, v in vars(self.cfg).items()},
            "model": self.objective.state_dict(),
            "optimizer": optimizer.state_dict(),
            "aux_optimizers": {k: o.state_dict() for k, o in self.objective.aux_optimizers().items()},
            "scaler": self.scaler.state_dict(),
            "schedule": schedule.state_dict(),
            "stage_index": stage_index,
            "epoch": epoch,
            "step": self.step,
            "rng": checkpoint.rng_state(),
            "history": self.history,
        }

    def _log_row(self, name: str, row: dict[str, Any]) -> None:
        path = self.out / name
        new = not path.exists()
        with path.open("a", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            if new:
                writer.writerow(list(row))
            writer.writerow(list(row.values()))

    # -- main loop ------------------------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        from tqdm.auto import tqdm

        cfg = self.cfg
        stages = self.objective.stages()
        start_stage, start_epoch, resume = 0, 0, None
        if cfg.resume:
            path = self.out / "checkpoint_last.pt" if cfg.resume == "last" else Path(cfg.resume)
            resume = checkpoint.load(path)
            if resume["objective"] != cfg.objective:
                raise UsageError(
                    f"--resume checkpoint is for objective {resume['objective']!r}, not {cfg.objective!r}"
                )
            self.objective.load_state_dict(resume["model"])
            for k, o in self.objective.aux_optimizers().items():
                o.load_state_dict(resume["aux_optimizers"][k])
            self.scaler.load_state_dict(resume["scaler"])
            start_stage, start_epoch = resume["stage_index"], resume["epoch"]
            self.step, self.history = resume["step"], list(resume["history"])
        tb = None
        if self.main_rank:
            from torch.utils.tensorboard import SummaryWriter

            tb = SummaryWriter(str(self.out / "tensorboard"))
        best: dict[str, Any] | None = next((h for h in reversed(self.history) if h.get("is_best")), None)
        for si in range(start_stage, len(stages)):
            stage = stages[si]
            epochs = stage.epochs if stage.epochs is not None else cfg.epochs
            schedule = Schedule(cfg.lr, cfg.lr_decay, cfg.halve_after, cfg.patience)
            optimizer = torch.optim.Adam(self.objective.param_groups(stage, cfg.lr))
            for g in optimizer.param_groups:  # groups may carry their own lr; the schedule scales them all
                g.setdefault("lr_ratio", g["lr"] / cfg.lr)
            first = 0
            if resume is not None and si == start_stage:
                schedule.load_state_dict(resume["schedule"])
                optimizer.load_state_dict(resume["optimizer"])
                checkpoint.set_rng_state(resume["rng"])
                first = start_epoch
            self.objective.train()
            for epoch in range(first, epochs):
                for g in optimizer.param_groups:
                    g["lr"] = schedule.lr * g["lr_ratio"]
                loader = self._loader(1000 * si + epoch)
                n_steps = len(loader) if cfg.max_steps_per_epoch is None else min(len(loader), cfg.max_steps_per_epoch)
                bar = tqdm(
                    total=n_steps,
                    desc=f"{stage.name} {epoch + 1}/{epochs}",
                    disable=not (cfg.progress and self.main_rank),
                )
                sums: dict[str, float] = {}
                done = 0
                for batch in loader:
                    if done >= n_steps:
                        break
                    if len(batch["media_ids"]) < 2:  # BatchNorm cannot train on one sample
                        continue
                    t0 = time.perf_counter()
                    row = self._train_step(batch, stage, optimizer)
                    if self.device.type == "cuda":
                        torch.cuda.synchronize()
                    self.step_times.append(time.perf_counter() - t0)
                    self.step += 1
                    done += 1
                    for k, v in row.items():
                        sums[k] = sums.get(k, 0.0) + v
                    bar.update(1)
                    bar.set_postfix(loss=f"{row['loss']:.4f}")
                    if self.main_rank and (self.step % cfg.log_every == 0 or done == 1):
                        self._log_row(
                            "steps.csv",
                            {"stage": stage.name, "epoch": epoch + 1, "step": self.step, "lr": schedule.lr, **row},
                        )
                        for k, v in row.items():
                            tb.add_scalar(f"train/{k}", v, self.step)
                bar.close()
                if not math.isfinite(sums.get("loss", 0.0)):
                    raise RuntimeError(f"non-finite training loss in epoch {epoch + 1}")
                metrics = self._validate(stage)
                rsum = None if metrics is None else metrics["t2v"]["r1"] + metrics["t2v"]["r5"] + metrics["t2v"]["r10"]
                rsum = self._share(rsum)  # every rank must take the same schedule and stopping decisions
                lr_used = schedule.lr
                is_best, stop = schedule.end_epoch(rsum)
                entry = {
                    "stage": stage.name,
                    "epoch": epoch + 1,
                    "step": self.step,
                    "lr": lr_used,
                    "t2v_rsum": rsum,
                    "is_best": is_best,
                }
                entry.update({f"mean_{k}": v / max(done, 1) for k, v in sums.items()})
                if metrics is not None:
                    entry["val"] = metrics
                    for k in ("r1", "r5", "r10", "medr", "map"):
                        tb.add_scalar(f"val/t2v_{k}", metrics["t2v"][k], self.step)
                        tb.add_scalar(f"val/v2t_{k}", metrics["v2t"][k], self.step)
                    tb.add_scalar("val/sumr", metrics["sumr"], self.step)
                self.history.append(entry)
                if self.main_rank:
                    self._log_row("epochs.csv", {k: v for k, v in entry.items() if k != "val"} | _flat(metrics))
                    payload = self._payload(si, epoch + 1, optimizer, schedule)
                    checkpoint.save(self.out / "checkpoint_last.pt", payload)
                    if is_best:
                        best = entry
                        checkpoint.save(self.out / "model_best.pt", payload)
                    log.info(
                        "%s epoch %d: loss %.4f, val t2v R-sum %s%s",
                        stage.name,
                        epoch + 1,
                        entry.get("mean_loss", float("nan")),
                        rsum,
                        " (best)" if is_best else "",
                    )
                if stop:
                    log.info("early stopping after %d epochs without improvement", schedule.no_impr)
                    break
            resume = None
        if tb is not None:
            tb.close()
        summary = {
            "objective": cfg.objective,
            "best": best,
            "history": self.history,
            "data": self.pairs.counts,
            "steps": self.step,
            "step_time_s": float(np.median(self.step_times)) if self.step_times else None,
            "device": str(self.device),
            "amp": str(self.amp) if self.amp else "off",
        }
        if self.main_rank:
            (self.out / "metrics.json").write_text(json.dumps(summary, indent=2, default=str) + "\n", encoding="utf-8")
        if self.world > 1:
            torch.distributed.destroy_process_group()
        return summary


def _flat(metrics: dict[str, Any] | None) -> dict[str, float]:
    if metrics is None:
        return {}
    return {f"{d}_{k}": v for d in ("t2v", "v2t") for k, v in metrics[d].items()} | {"sumr": metrics["sumr"]}


def train(cfg: TrainConfig) -> dict[str, Any]:
    """Train with ``cfg``; returns the summary also written to ``out_dir/metrics.json``."""
    try:
        return Trainer(cfg).run()
    except FileNotFoundError as exc:
        raise InputError(str(exc)) from exc
