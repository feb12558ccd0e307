"""`clcm-train`: train (baseline, nrccr, cl2cm, nrf) and evaluate cross-lingual cross-modal retrieval models.

`clcm-train --shards DIR --features SPEC --objective nrccr` trains (``train`` is the default command);
`clcm-train evaluate --checkpoint CKPT --queries Q --features SPEC` evaluates;
`clcm-train sweep --scored DIR --keep-fractions 1,0.8,0.6 ...` trains at several filter cut-offs and plots SumR;
`clcm-train features IMAGES -o OUT --model openai/clip-vit-base-patch32` makes the visual feature files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from clcm import __version__
from clcm.cli.common import exit_with, run_app, setup_logging
from clcm.cli.features_cmd import features_cmd
from clcm.cli.help import config_command, use_clcm_help
from clcm.errors import UsageError
from clcm.training.config import COMMON_DEFAULTS, TrainConfig

app = typer.Typer(
    name="clcm-train",
    help="Train and evaluate cross-lingual cross-modal retrieval models (baseline, nrccr, cl2cm, nrf).",
    add_completion=False,
    pretty_exceptions_enable=False,
)
COMMANDS = ("train", "evaluate", "sweep", "features")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"clcm-train {__version__}")
        raise typer.Exit()


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    setup_logging(verbose)
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())


def _key_values(items: list[str] | None, flag: str) -> dict[str, Any]:
    """``KEY=VALUE`` flags; values are parsed as YAML scalars/lists (``0.5``, ``true``, ``[a, b]``)."""
    import yaml

    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"{flag} expects KEY=VALUE, got {item!r}")
        out[key.strip()] = yaml.safe_load(value)
    return out


@app.command("train", cls=config_command(TrainConfig, COMMON_DEFAULTS))
def train_cmd(
    config: Annotated[Path | None, typer.Option(help="YAML config; flags override its keys.")] = None,
    shards: Annotated[
        str | None, typer.Option(help="Train pairs: stage dir, shard dir or file. Required (here or in --config).")
    ] = None,
    features: Annotated[
        str | None,
        typer.Option(help="Visual features: .npy[:ids.txt], BigFile dir, .parquet. Required (here or in --config)."),
    ] = None,
    val: Annotated[str | None, typer.Option(help="Validation queries (caption Parquet or pair shards).")] = None,
    objective: Annotated[str | None, typer.Option(help="baseline | nrccr | cl2cm | nrf")] = None,
    out_dir: Annotated[str | None, typer.Option(help="Output directory (checkpoints, logs, metrics.json).")] = None,
    text_model: Annotated[str | None, typer.Option(help="HF text encoder id or local directory.")] = None,
    tgt_lang: Annotated[str | None, typer.Option(help="Target language to train and validate on.")] = None,
    epochs: Annotated[int | None, typer.Option(help="Maximum epochs per stage.")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Training batch size.")] = None,
    lr: Annotated[float | None, typer.Option(help="Adam learning rate.")] = None,
    max_steps_per_epoch: Annotated[int | None, typer.Option(help="Cap on steps per epoch.")] = None,
    device: Annotated[str | None, typer.Option(help="auto | cpu | cuda | cuda:N")] = None,
    amp: Annotated[str | None, typer.Option(help="auto | bf16 | fp16 | off (GPU only).")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
    resume: Annotated[str | None, typer.Option(help="Checkpoint to resume from ('last' = out-dir's last).")] = None,
    opt: Annotated[list[str] | None, typer.Option("--opt", help="Objective option KEY=VALUE (repeatable).")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Any config key KEY=VALUE (repeatable).")] = None,
    progress: Annotated[bool | None, typer.Option("--progress/--no-progress", help="Progress bars.")] = None,
) -> None:
    """Train a model on pair shards and visual features; prints the best validation metrics as JSON."""
    from clcm.training.config import load_config
    from clcm.training.metrics import round_floats
    from clcm.training.trainer import train

    flags = dict(shards=shards, features=features, val=val, objective=objective, out_dir=out_dir)
    flags |= dict(text_model=text_model, tgt_lang=tgt_lang, epochs=epochs, batch_size=batch_size, lr=lr)
    flags |= dict(max_steps_per_epoch=max_steps_per_epoch, device=device, amp=amp, seed=seed, resume=resume)
    flags |= dict(progress=progress)
    cfg = load_config(config, flags, explicit=_key_values(set_, "--set"))  # `--set key=null` really sets None
    if opt:
        cfg = cfg.replace(objective_options={**cfg.objective_options, **_key_values(opt, "--opt")})
    summary = train(cfg)
    best = summary["best"] or {}
    result = {"out_dir": cfg.out_dir, "steps": summary["steps"], "best_epoch": best.get("epoch")}
    typer.echo(json.dumps(round_floats(result | {"best_val": best.get("val")}), default=str))


@app.command("evaluate")
def evaluate_cmd(
    checkpoint: Annotated[str, typer.Option(help="Checkpoint (model_best.pt or checkpoint_last.pt).")],
    queries: Annotated[str, typer.Option(help="Query captions (caption Parquet or pair shards).")],
    features: Annotated[str, typer.Option(help="Visual features of the gallery.")],
    fusion_weight: Annotated[
        float | None,
        typer.Option(
            help="Weight of the MT->English query view (NRCCR) in the headline metrics; default: the "
            "checkpoint's test_fusion_weight (0.5). 1.0, 0.8, 0.5, 0.2 and 0.0 are reported under fusion_sweep too."
        ),
    ] = None,
    tgt_lang: Annotated[str | None, typer.Option(help="Query language.")] = None,
    split: Annotated[str | None, typer.Option(help="Use only rows of this split.")] = None,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda")] = "auto",
    out: Annotated[str | None, typer.Option(help="Write the metrics JSON here too (a local path or URL).")] = None,
) -> None:
    """Evaluate a checkpoint: R@1/5/10, MedR, MeanR, mAP, SumR in both directions, as JSON (fused methods: every
    fusion weight of NRCCR's video tester too)."""
    from clcm.training.evaluation import evaluate_checkpoint
    from clcm.training.metrics import round_floats

    metrics = evaluate_checkpoint(
        checkpoint, queries, features, fusion_weight=fusion_weight, tgt_lang=tgt_lang, split=split, device=device
    )
    text = json.dumps(round_floats(metrics), indent=2)
    if out is not None:
        from clcm import storage

        storage.write_text(out, text + "\n")
    typer.echo(text)


def _floats(text: str | None, flag: str) -> tuple[float, ...]:
    try:
        return tuple(float(x) for x in (text or "").split(",") if x.strip())
    except ValueError:
        raise UsageError(f"{flag} expects comma-separated numbers, got {text!r}") from None


@app.command("sweep")
def sweep_cmd(
    scored: Annotated[str, typer.Option(help="Scored pair shards (the output directory of `clcm-data score`).")],
    out_dir: Annotated[str, typer.Option(help="Output directory: sweep.json, sweep.png, one model per point.")],
    keep_fractions: Annotated[
        str, typer.Option(help="Comma-separated keep fractions (best F by noise_score), one model each.")
    ] = "1,0.8,0.6,0.4",
    thresholds: Annotated[str, typer.Option(help="Comma-separated noise_score thresholds, one model each.")] = "",
    budget_steps: Annotated[
        int | None, typer.Option(help="Optimiser steps per point (default: --epochs over the largest selection).")
    ] = None,
    test: Annotated[str | None, typer.Option(help="Test queries; every point's best model is evaluated.")] = None,
    config: Annotated[Path | None, typer.Option(help="Training YAML config; flags override its keys.")] = None,
    features: Annotated[str | None, typer.Option(help="Visual features (as for train).")] = None,
    val: Annotated[str | None, typer.Option(help="Validation queries: the SumR the sweep plots.")] = None,
    objective: Annotated[str | None, typer.Option(help="baseline | nrccr | cl2cm | nrf")] = None,
    text_model: Annotated[str | None, typer.Option(help="HF text encoder id or local directory.")] = None,
    tgt_lang: Annotated[str | None, typer.Option(help="Target language to train and validate on.")] = None,
    epochs: Annotated[int | None, typer.Option(help="Epochs over the largest selection (sets the budget).")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Training batch size.")] = None,
    device: Annotated[str | None, typer.Option(help="auto | cpu | cuda | cuda:N")] = None,
    opt: Annotated[list[str] | None, typer.Option("--opt", help="Objective option KEY=VALUE (repeatable).")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Train config KEY=VALUE (repeatable).")] = None,
) -> None:
    """Threshold vs retrieval: train the same model on the best F of the pairs for each F (same steps), plot SumR."""
    from clcm.pipelines.sweep import SweepConfig, run
    from clcm.training.config import load_config

    flags = dict(features=features, val=val, objective=objective, text_model=text_model, tgt_lang=tgt_lang)
    flags |= dict(epochs=epochs, batch_size=batch_size, device=device, progress=False)
    cfg = load_config(config, flags, explicit=_key_values(set_, "--set"))
    if opt:
        cfg = cfg.replace(objective_options={**cfg.objective_options, **_key_values(opt, "--opt")})
    if not cfg.features or not cfg.val:
        raise UsageError("the sweep needs --features and --val (the validation SumR is what it plots)")
    sweep = SweepConfig(scored=scored, out_dir=out_dir, train=cfg, keep_fractions=_floats(keep_fractions,
                        "--keep-fractions"), thresholds=_floats(thresholds, "--thresholds"),
                        budget_steps=budget_steps, test=test)  # fmt: skip
    result = run(sweep)
    typer.echo(f"{'point':<16} {'pairs':>7} {'keep':>6} {'steps':>6} {'val SumR':>9} {'test SumR':>10}")
    for r in result["points"]:
        val_sumr = (r.get("val") or {}).get("sumr", "-")
        test_sumr = (r.get("test") or {}).get("sumr", "-")
        typer.echo(f"{r['point']:<16} {r['pairs']:>7} {r['keep_rate']:>6.2f} {r.get('steps', 0):>6} "
                   f"{val_sumr:>9} {test_sumr:>10}")  # fmt: skip
    typer.echo(f"-> {out_dir}/sweep.json, {out_dir}/sweep.png")


app.command("features")(features_cmd)
use_clcm_help(app)


def main(argv: list[str] | None = None) -> None:
    """Entry point; ``train`` is the default command when the first argument is an option other than help/version."""
    import sys

    args = list(sys.argv[1:] if argv is None else argv)
    i = 0
    while i < len(args) and args[i] in ("-v", "--verbose"):  # root options may come first
        i += 1
    if i < len(args) and args[i].startswith("-") and args[i] not in ("--help", "--version"):
        args.insert(i, "train")
    exit_with(run_app(app, args))


if __name__ == "__main__":  # `python -m clcm.cli.train` / `torchrun -m clcm.cli.train`
    main()
