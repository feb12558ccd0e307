"""`clcm-data translate` and `convert-model`: the Beam MT + back-translation pipeline."""

from __future__ import annotations

from typing import Annotated

import typer

from clcm.cli.common import Overwrite, beam_args, claim_out
from clcm.configs import ROUND_ROWS
from clcm.errors import UsageError


def _langs(values: list[str]) -> tuple[str, ...]:
    from clcm.schemas import check_lang

    out: list[str] = []
    for v in values:
        for code in v.split(","):
            try:
                out.append(check_lang(code.strip()))
            except ValueError as exc:
                raise UsageError(str(exc)) from exc
    return tuple(dict.fromkeys(out))


def translate_cmd(
    ctx: typer.Context,
    inputs: Annotated[list[str], typer.Option("--input", "-i", help="Stage dir (captions/), shard dir, file, glob.")],
    out: Annotated[str, typer.Option("--out", "-o", help="Output directory (pairs/, rejects/, manifest).")],
    langs: Annotated[list[str], typer.Option("--lang", "-l", help="Target language(s), repeat or comma-separate.")],
    src_lang: Annotated[str, typer.Option(help="Language of the captions to translate.")] = "en",
    model: Annotated[str | None, typer.Option(help="MT model: hub id or local dir (default: per pair).")] = None,
    bt_model: Annotated[
        str | None, typer.Option(help="Back-translation model (default: --model, or per pair).")
    ] = None,
    backend: Annotated[str, typer.Option(help="ct2 (CTranslate2, fastest) or hf (transformers).")] = "ct2",
    device: Annotated[str, typer.Option(help="cpu, cuda or auto.")] = "cpu",
    compute_type: Annotated[str, typer.Option(help="auto, int8, int8_float16, float16, bfloat16, float32.")] = "auto",
    beam_size: Annotated[int, typer.Option(help="1 = greedy.")] = 1,
    max_length_factor: Annotated[float, typer.Option(help="Output budget x source tokens.")] = 2.0,
    max_length: Annotated[int, typer.Option(help="Hard cap on output tokens.")] = 256,
    batch_size: Annotated[int, typer.Option(help="Unique texts per Beam element.")] = 512,
    max_batch_tokens: Annotated[int, typer.Option(help="Source-token budget per model batch.")] = 4096,
    cache_dir: Annotated[str | None, typer.Option(help="Translation cache (default $CLCM_CACHE_DIR).")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Neither read nor write the cache.")] = False,
    shards: Annotated[int, typer.Option(help="Pair shards (0 = one per 50,000 pairs).")] = 0,
    workers: Annotated[int, typer.Option(help="Batches translated at once by the one copy of each model.")] = 1,
    threads: Annotated[int, typer.Option(help="Model threads per worker.")] = 1,
    round_rows: Annotated[
        int, typer.Option(help="Local runner: captions per round, so memory stays flat (0 = one round).")
    ] = ROUND_ROWS,
    progress: Annotated[bool, typer.Option(help="Progress bars.")] = True,
    overwrite: Overwrite = False,
) -> None:
    """Translate and back-translate captions into pair shards (Apache Beam; hf or ct2 backend).

    Unknown flags go to Beam, e.g. `--runner DataflowRunner --project P --region R --temp_location gs://B/tmp`.
    """
    extra_args = beam_args(ctx)  # a mistyped flag fails here, before any work
    from clcm.pipelines.translate import TranslateConfig
    from clcm.pipelines.translate_run import run
    from clcm.translation import DecodeSettings

    settings = DecodeSettings(
        beam_size=beam_size,
        max_length_factor=max_length_factor,
        max_length=max_length,
        max_batch_tokens=max_batch_tokens,
    )
    config = TranslateConfig(
        inputs=tuple(inputs),
        out_dir=out,
        tgt_langs=_langs(langs),
        src_lang=_langs([src_lang])[0],
        model=model,
        bt_model=bt_model,
        backend=backend,
        device=device,
        compute_type=compute_type,
        threads=threads,
        settings=settings,
        cache_dir=cache_dir,
        use_cache=not no_cache,
        num_shards=shards,
        workers=workers,
        batch_size=batch_size,
        round_rows=round_rows,
        progress=progress,
    )
    claim_out(out, "translate", overwrite)
    manifest = run(config, extra_args)
    c, s = manifest.counts, manifest.extra["summary"]
    typer.echo(
        f"translated {c['kept']} captions -> {c['pairs']} pairs in {manifest.timings['pipeline_s']:.1f}s "
        f"({s['pairs_per_s']} pairs/s, {s['tokens_per_s']} tokens/s); cache hits {c['cached']}/{c['unique']} "
        f"texts; rejected {sum(c['rejected'].values())}; output {out}"
    )


def convert_model_cmd(
    model: Annotated[str, typer.Argument(help="transformers model: hub id or local directory.")],
    out: Annotated[str, typer.Option("--out", "-o", help="Output CTranslate2 directory.")],
    quantization: Annotated[str | None, typer.Option(help="int8, int8_float16, float16, ... (default: keep).")] = None,
    revision: Annotated[str | None, typer.Option(help="Hub revision.")] = None,
) -> None:
    """Convert a transformers seq2seq model to CTranslate2 (with its tokenizer), for `--backend ct2`."""
    from clcm.translation.ct2 import convert_model

    path = convert_model(model, out, quantization=quantization, revision=revision)
    typer.echo(f"converted {model} -> {path}")
