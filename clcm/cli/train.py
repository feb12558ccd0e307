"""`clcm-train`: train (baseline, nrccr, cl2cm, nrf) and evaluate cross-lingual cross-modal retrieval models.

`clcm-train --shards DIR --features SPEC --objective nrccr` trains (``train`` is the default command);
`clcm-train evaluate --checkpoint CKPT --queries Q --features SPEC` evaluates.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from clcm import __version__
from clcm.cli.common import exit_with, run_app, setup_logging
from clcm.errors import UsageError

app = typer.Typer(
    name="clcm-train",
    help="Train and evaluate cross-lingual cross-modal retrieval models (baseline, nrccr, cl2cm, nrf).",
    add_completion=False,
    pretty_exceptions_enable=False,
)
COMMANDS = ("train", "evaluate")


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


@app.command("train")
def train_cmd(
    config: Annotated[Path | None, typer.Option(help="YAML config; flags override its keys.")] = None,
    shards: Annotated[str | None, typer.Option(help="Train pairs: stage dir, shard dir or file.")] = None,
    features: Annotated[
        str | None, typer.Option(help="Visual features: .npy[:ids.txt], BigFile dir, .parquet.")
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
    typer.echo(
        json.dumps(
            {
                "out_dir": cfg.out_dir,
                "steps": summary["steps"],
                "best_epoch": best.get("epoch"),
                "best_val": best.get("val"),
            },
            default=str,
        )
    )


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
    out: Annotated[Path | None, typer.Option(help="Write the metrics JSON here too.")] = None,
) -> None:
    """Evaluate a checkpoint: R@1/5/10, MedR, MeanR, mAP, SumR in both directions, as JSON (fused methods: every
    fusion weight of NRCCR's video tester too)."""
    from clcm.training.evaluation import evaluate_checkpoint

    metrics = evaluate_checkpoint(
        checkpoint, queries, features, fusion_weight=fusion_weight, tgt_lang=tgt_lang, split=split, device=device
    )
    text = json.dumps(metrics, indent=2)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n", encoding="utf-8")
    typer.echo(text)


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
