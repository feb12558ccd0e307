"""`clcm-data score` and `filter`: noise scores for every pair, and explainable selection."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from clcm.cli.common import Overwrite, beam_args, claim_out
from clcm.configs import ROUND_ROWS
from clcm.errors import UsageError


def _scorer_list(values: list[str] | None) -> tuple[str, ...] | None:
    if not values:
        return None
    return tuple(dict.fromkeys(s.strip() for v in values for s in v.split(",") if s.strip()))


def _scorer_options(values: list[str]) -> dict[str, dict[str, Any]]:
    """``--scorer-option NAME.KEY=VALUE`` (repeatable) -> ``{NAME: {KEY: VALUE}}``; VALUE is read as YAML (numbers,
    true/false, lists), anything else stays a string. Unknown scorers and keys are reported by the score stage."""
    import yaml

    out: dict[str, dict[str, Any]] = {}
    for v in values:
        target, eq, value = v.partition("=")
        name, dot, key = target.strip().partition(".")
        if not (eq and dot and name and key.strip()):
            raise UsageError(f"--scorer-option {v!r}: expected NAME.KEY=VALUE, e.g. langid.detector=fast")
        try:
            parsed = yaml.safe_load(value) if value.strip() else ""
        except yaml.YAMLError:
            parsed = value
        out.setdefault(name, {})[key.strip()] = parsed
    return out


def _rules(values: list[str]) -> dict[str, float | None]:
    """``--rule NAME`` (scorer's default threshold) or ``--rule NAME=VALUE``."""
    from clcm.filtering.registry import SCORERS

    out: dict[str, float | None] = {}
    for v in values:
        name, _, value = v.partition("=")
        name = name.strip()
        if name not in SCORERS:
            raise UsageError(f"--rule {v!r}: unknown scorer {name!r}; known: {sorted(SCORERS)}")
        try:
            out[name] = float(value) if value.strip() else None
        except ValueError as exc:
            raise UsageError(f"--rule {v!r}: {value!r} is not a number") from exc
    return out


def score_cmd(
    ctx: typer.Context,
    inputs: Annotated[str, typer.Option("--input", "-i", help="Stage dir (its pairs/), shard dir, file or glob.")],
    out: Annotated[str, typer.Option("--out", "-o", help="Output directory (scored/, models/, manifest).")],
    scorers: Annotated[
        list[str] | None, typer.Option("--scorer", "-s", help="Scorer(s) to run, repeat or comma-separate.")
    ] = None,
    scorer_options: Annotated[
        list[str] | None,
        typer.Option("--scorer-option", help="A scorer's option NAME.KEY=VALUE, e.g. langid.detector=langdetect."),
    ] = None,
    embedder: Annotated[
        str | None,
        typer.Option(
            help="Encoder of the embedding scorers: `use` (built-in multilingual USE, offline; no Czech) "
            "or an HF encoder id/directory, e.g. sentence-transformers/LaBSE."
        ),  # fmt: skip
    ] = None,
    device: Annotated[str, typer.Option(help="Device of the embedder: cpu or cuda.")] = "cpu",
    batch_size: Annotated[int, typer.Option(help="Pairs per Beam element.")] = 1024,
    shards: Annotated[int, typer.Option(help="Output shards (0 = one per 50,000 pairs).")] = 0,
    combiner_pairs: Annotated[int, typer.Option(help="Corpus pairs sampled to train the combiner.")] = 4000,
    lexical_fit_pairs: Annotated[
        int, typer.Option(help="Fit the IBM-1 model on at most this many pairs (a seeded sample; bounds memory).")
    ] = 1_000_000,
    seed: Annotated[int, typer.Option(help="Seed of the combiner's synthetic noise and weights.")] = 0,
    workers: Annotated[int, typer.Option(help="DirectRunner worker processes.")] = 1,
    round_rows: Annotated[
        int, typer.Option(help="Local runner, one worker: pairs per round, so memory stays flat (0 = one round).")
    ] = ROUND_ROWS,
    overwrite: Overwrite = False,
) -> None:
    """Score pair shards for translation noise (one score_<name> column per scorer + noise_score).

    Scorers whose inputs are missing (no back-translations, no --embedder) are skipped with a note. Unknown flags
    go to Beam (e.g. `--runner FlinkRunner ...`).
    """
    extra_args = beam_args(ctx)  # a mistyped flag fails here, before any work
    from clcm.filtering.registry import DEFAULT_SCORERS, EMBEDDING_SCORERS
    from clcm.pipelines.score import ScoreConfig, run

    names = _scorer_list(scorers) or (DEFAULT_SCORERS + (EMBEDDING_SCORERS if embedder else ()))
    config = ScoreConfig(inputs=inputs, out_dir=out, scorers=names, embedder=embedder, device=device,
                         scorer_options=_scorer_options(scorer_options or []),
                         batch_size=batch_size, num_shards=shards or None, combiner_pairs=combiner_pairs,
                         lexical_fit_pairs=lexical_fit_pairs, seed=seed, workers=workers,
                         round_rows=round_rows)  # fmt: skip
    claim_out(out, "score", overwrite)
    manifest = run(config, extra_args)
    active = manifest.config["active_scorers"]
    skipped = manifest.extra["skipped_scorers"]
    typer.echo(f"scored {manifest.counts['scored']} pairs with {', '.join(active)}"
               f"{'; skipped ' + ', '.join(skipped) if skipped else ''}; output {out}")  # fmt: skip


def filter_cmd(
    scored: Annotated[str, typer.Option("--input", "-i", help="Score output dir (its scored/), file or glob.")],
    out: Annotated[str, typer.Option("--out", "-o", help="Output directory (kept/, dropped/, report, plots).")],
    threshold: Annotated[
        float | None,
        typer.Option(
            help="Drop pairs with noise_score above this; t drops about 1 - t of clean pairs "
            "(default 0.97: ~3%; report.json states the estimate)."
        ),
    ] = None,
    no_threshold: Annotated[bool, typer.Option("--no-threshold", help="Do not threshold noise_score.")] = False,
    keep_fraction: Annotated[float | None, typer.Option(help="Keep only the best F (0-1] by noise_score.")] = None,
    rules: Annotated[
        list[str] | None, typer.Option("--rule", help="Hard rule NAME or NAME=THRESHOLD on score_NAME; repeatable.")
    ] = None,
    default_rules: Annotated[
        bool, typer.Option(help="Apply the decisive hard rules langid, repetition, copy (default thresholds).")
    ] = True,
    min_per_media: Annotated[int, typer.Option(help="Keep at least the best K pairs of every image/video.")] = 0,
    nrf_fraction: Annotated[float, typer.Option(help="Share of kept pairs marked nrf_selected (NRF).")] = 0.5,
    plots: Annotated[bool, typer.Option(help="Write PNG plots.")] = True,
    overwrite: Overwrite = False,
) -> None:
    """Select pairs from scored shards by threshold/keep-fraction/rules; write kept, dropped, report and plots.

    Never re-scores. An empty selection is a warning (exit 0); report.json says why every pair was dropped.
    """
    from clcm.filtering.selection import DEFAULT_THRESHOLD, SelectionConfig
    from clcm.pipelines.filter import FilterConfig, run

    chosen = DEFAULT_THRESHOLD if threshold is None else threshold
    selection = SelectionConfig(threshold=None if no_threshold else chosen, keep_fraction=keep_fraction,
                                rules=_rules(rules or []), default_rules=default_rules, min_per_media=min_per_media,
                                nrf_fraction=nrf_fraction)  # fmt: skip
    config = FilterConfig(scored=scored, out_dir=out, selection=selection, plots=plots)
    claim_out(out, "filter", overwrite)
    manifest = run(config)
    c = manifest.counts
    rescued = c.get("kept_by_min_per_media", 0)
    despite = f", {rescued} of them only by --min-per-media despite their score" if rescued else ""
    typer.echo(f"kept {c['kept']} of {c['scored']} pairs{despite} (dropped {c['dropped']}; nrf_selected "
               f"{c['nrf_selected']}); report {out}/report.json")  # fmt: skip
