"""The training loop: data, objective stages, the optimizer and schedule the objective declares, AMP, DDP,
checkpoints, logs, metrics.

``train(cfg)`` runs every stage of the objective. Per stage, each epoch is :meth:`Trainer.train_one_epoch`
followed by :meth:`Trainer.evaluate_epoch` (t2v R@1+R@5+R@10 on the fused score, as open_clip's
``train_one_epoch``/``evaluate``) and :meth:`Trainer.end_epoch` (schedule, early stopping, ``checkpoint_last.pt``
and ``model_best.pt`` on improvement, ``epochs.csv``). ``steps.csv``, TensorBoard events and ``metrics.json`` are
written too; ``cfg.resume`` continues exactly from a checkpoint.

``cfg.out_dir`` may be an object-store URL: checkpoints and ``metrics.json`` are written as objects, the appended
logs are uploaded after every epoch (:mod:`clcm.training.run_logs`).
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import time
from typing import Any

import numpy as np
import torch

from clcm import storage
from clcm.errors import InputError, UsageError
from clcm.training import checkpoint
from clcm.training.config import TrainConfig, resolve_defaults
from clcm.training.data import PairCollate, load_pairs, load_queries, move_batch
from clcm.training.evaluation import evaluate
from clcm.training.features import load_features
from clcm.training.metrics import round_floats
from clcm.training.models import top_layers
from clcm.training.objectives import build_objective, objective_class
from clcm.training.objectives.base import BuildContext, Objective, Stage
from clcm.training.run_logs import RunLogs
from clcm.training.runtime import amp_dtype, load_tokenizer, make_tokenize, resolve_device, seed_everything
from clcm.training.schedule import Schedule

log = logging.getLogger(__name__)


class Trainer:
    """Holds the run state; ``run()`` trains every stage and returns the metrics summary."""

    def __init__(self, cfg: TrainConfig) -> None:
        if not cfg.shards or not cfg.features:
            raise UsageError("training needs --shards and --features")
        objective_cls = objective_class(cfg.objective)  # fail early on an unknown objective
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.device = resolve_device(cfg.device)
        if self.world > 1:
            self._init_distributed()
        self.out = cfg.out_dir
        storage.makedirs(self.out)
        seed_everything(cfg.seed)
        self.store = load_features(cfg.features)
        cfg = resolve_defaults(cfg, objective_cls.train_defaults, frames=self.store.is_frames)
        tokenizer, hf_config = load_tokenizer(cfg.text_model)
        layers = cfg.trainable_layers
        if layers is None:
            layers = list(top_layers(int(hf_config.num_hidden_layers), int(cfg.trainable_top_layers or 0)))
        self.ctx = BuildContext(
            text_model=cfg.text_model,
            visual_dim=self.store.dim,
            frames=self.store.is_frames,
            trainable_layers=tuple(layers),
            options=dict(cfg.objective_options),
        )
        self.objective: Objective = build_objective(cfg.objective, self.ctx).to(self.device)
        self.pairs = load_pairs(cfg, extra_columns=self.objective.data_columns())
        self.cfg = cfg = cfg.replace(tgt_lang=self.pairs.tgt_lang)
        self.store.check(self.pairs.media_ids, f"the training pairs ({cfg.shards})")
        self.queries = load_queries(cfg.val, cfg.tgt_lang, cfg.val_split) if cfg.val else None
        if self.queries is not None:
            self.store.check(self.queries.media_ids, f"the validation queries ({cfg.val})")
        self.tokenize = make_tokenize(cfg, tokenizer)
        self.model: torch.nn.Module = self.objective
        if self.world > 1:
            self._wrap_ddp()
        self.amp = amp_dtype(cfg, self.device)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp == torch.float16)
        self.history: list[dict[str, Any]] = []
        self.step = 0
        self.step_times: list[float] = []
        self.tb: Any = None
        self.logs = RunLogs(self.out)  # last: a URL out_dir's logs get a local temporary directory

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

    def evaluate_epoch(self, stage: Stage) -> dict[str, Any] | None:
        """Validation metrics after an epoch of ``stage`` (None: no queries, a stage that does not validate, or not
        rank 0)."""
        if self.queries is None or not stage.validate or not self.main_rank:
            return None
        return evaluate(
            self.objective,
            self.tokenize,
            self.store,
            self.queries,
            fusion_weight=float(self.cfg.fusion_weight),
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

    def _scalar(self, name: str, value: float, step: int) -> None:
        if self.tb is not None:  # TensorBoard is opened by run() on rank 0
            self.tb.add_scalar(name, value, step)

    def _log_row(self, name: str, row: dict[str, Any]) -> None:
        path = self.logs.path(name)
        new = not os.path.exists(path)
        with open(path, "a", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            if new:
                writer.writerow(list(row))
            writer.writerow(list(row.values()))

    # -- optimizer and schedule ------------------------------------------------------------------------------------
    def make_optimizer(self, stage: Stage) -> torch.optim.Optimizer:
        """The main optimizer of a stage: ``cfg.optimizer`` (the objective's unless overridden) over its groups."""
        cfg = self.cfg
        groups = self.objective.param_groups(stage, cfg.lr)
        kind = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
        optimizer = kind(groups, lr=cfg.lr, weight_decay=float(cfg.weight_decay or 0.0))
        for g in optimizer.param_groups:  # groups may carry their own lr; the schedule scales them all
            g.setdefault("lr_ratio", g["lr"] / cfg.lr)
        return optimizer

    def make_schedule(self, epochs: int, steps_per_epoch: int) -> Schedule:
        cfg = self.cfg
        total = epochs * steps_per_epoch
        return Schedule(
            cfg.lr,
            cfg.lr_decay,
            cfg.halve_after,
            cfg.patience,
            policy=str(cfg.lr_schedule),
            total_steps=total,
            warmup_steps=int(math.ceil(float(cfg.warmup_ratio or 0.0) * total)),
        )

    def _steps_per_epoch(self, loader: torch.utils.data.DataLoader) -> int:
        cap = self.cfg.max_steps_per_epoch
        return len(loader) if cap is None else min(len(loader), cap)

    # -- one epoch ----------------------------------------------------------------------------------------------
    def train_one_epoch(
        self, stage: Stage, epoch: int, epochs: int, optimizer: torch.optim.Optimizer, schedule: Schedule, key: int
    ) -> tuple[dict[str, float], int]:
        """Train ``stage`` for one epoch; returns (sums of the logged terms over its steps, steps taken)."""
        from tqdm.auto import tqdm

        cfg = self.cfg
        self.objective.train()
        loader = self._loader(key)
        n_steps = self._steps_per_epoch(loader)
        quiet = not (cfg.progress and self.main_rank)
        bar = tqdm(total=n_steps, desc=f"{stage.name} {epoch + 1}/{epochs}", disable=quiet)
        sums: dict[str, float] = {}
        done = 0
        for batch in loader:
            if done >= n_steps:
                break
            if len(batch["media_ids"]) < 2:  # BatchNorm cannot train on one sample
                continue
            base_lr = schedule.next_step_lr()
            for g in optimizer.param_groups:
                g["lr"] = base_lr * g["lr_ratio"]
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
                    "steps.csv", {"stage": stage.name, "epoch": epoch + 1, "step": self.step, "lr": base_lr, **row}
                )
                for k, v in row.items():
                    self._scalar(f"train/{k}", v, self.step)
        bar.close()
        if not math.isfinite(sums.get("loss", 0.0)):
            raise RuntimeError(f"non-finite training loss in epoch {epoch + 1}")
        return sums, done

    def end_epoch(
        self,
        si: int,
        stage: Stage,
        epoch: int,
        optimizer: torch.optim.Optimizer,
        schedule: Schedule,
        sums: dict[str, float],
        done: int,
        metrics: dict[str, Any] | None,
    ) -> tuple[dict[str, Any], bool]:
        """Schedule and early-stopping decision, history, logs and checkpoints; returns (history entry, stop)."""
        rsum = None if metrics is None else metrics["t2v"]["r1"] + metrics["t2v"]["r5"] + metrics["t2v"]["r10"]
        rsum = self._share(rsum)  # every rank must take the same schedule and stopping decisions
        lr_used = schedule.lr
        is_best, stop = schedule.end_epoch(rsum)
        entry = {"stage": stage.name, "epoch": epoch + 1, "step": self.step, "lr": lr_used, "t2v_rsum": rsum}
        entry["is_best"] = is_best
        entry.update({f"mean_{k}": v / max(done, 1) for k, v in sums.items()})
        if metrics is not None:
            entry["val"] = metrics
            for k in ("r1", "r5", "r10", "medr", "map"):
                self._scalar(f"val/t2v_{k}", metrics["t2v"][k], self.step)
                self._scalar(f"val/v2t_{k}", metrics["v2t"][k], self.step)
            self._scalar("val/sumr", metrics["sumr"], self.step)
        self.history.append(entry)
        if self.main_rank:
            self._log_row("epochs.csv", {k: v for k, v in entry.items() if k != "val"} | _flat(metrics))
            payload = self._payload(si, epoch + 1, optimizer, schedule)
            checkpoint.save(storage.join(self.out, "checkpoint_last.pt"), payload)
            if is_best:
                checkpoint.save(storage.join(self.out, "model_best.pt"), payload)
            self.logs.publish(self.tb)
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
        return entry, stop

    # -- stages -------------------------------------------------------------------------------------------------
    def _load_resume(self) -> dict[str, Any] | None:
        cfg = self.cfg
        if not cfg.resume:
            return None
        path = storage.join(self.out, "checkpoint_last.pt") if cfg.resume == "last" else cfg.resume
        resume = checkpoint.load(path)
        if resume["objective"] != cfg.objective:
            raise UsageError(f"--resume checkpoint is for objective {resume['objective']!r}, not {cfg.objective!r}")
        self.objective.load_state_dict(resume["model"])
        for k, o in self.objective.aux_optimizers().items():
            o.load_state_dict(resume["aux_optimizers"][k])
        self.scaler.load_state_dict(resume["scaler"])
        self.step, self.history = resume["step"], list(resume["history"])
        return resume

    def run_stage(self, si: int, stage: Stage, resume: dict[str, Any] | None = None) -> None:
        """Train one stage to its epoch budget or early stop; ``resume`` continues it from a checkpoint payload."""
        epochs = stage.epochs if stage.epochs is not None else int(self.cfg.epochs or 0)
        optimizer = self.make_optimizer(stage)
        steps = self._steps_per_epoch(self._loader(1000 * si))
        schedule = self.make_schedule(epochs, steps)
        first = 0
        if resume is not None:
            schedule.load_state_dict(resume["schedule"])
            optimizer.load_state_dict(resume["optimizer"])
            checkpoint.set_rng_state(resume["rng"])
            first = resume["epoch"]
        for epoch in range(first, epochs):
            sums, done = self.train_one_epoch(stage, epoch, epochs, optimizer, schedule, key=1000 * si + epoch)
            metrics = self.evaluate_epoch(stage)
            _, stop = self.end_epoch(si, stage, epoch, optimizer, schedule, sums, done, metrics)
            if stop:
                break

    def run(self) -> dict[str, Any]:
        """Train every stage (from a checkpoint with ``cfg.resume``); returns the summary of ``metrics.json``."""
        cfg = self.cfg
        resume = self._load_resume()
        start_stage = 0 if resume is None else resume["stage_index"]
        if self.main_rank:
            from torch.utils.tensorboard import SummaryWriter

            if resume is not None:
                self.logs.fetch()
            self.tb = SummaryWriter(self.logs.tensorboard)
        stages = self.objective.stages()
        for si in range(start_stage, len(stages)):
            self.run_stage(si, stages[si], resume if si == start_stage else None)
        if self.tb is not None:
            self.tb.close()
        if self.main_rank:
            self.logs.close()  # the last upload of a URL out_dir's logs
        best = next((h for h in reversed(self.history) if h.get("is_best")), None)
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
            text = json.dumps(round_floats(summary), indent=2, default=str)
            storage.write_text(storage.join(self.out, "metrics.json"), text + "\n")
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
