"""Beam pipeline options shared by every clcm pipeline.

Local default: the DirectRunner's engine (the FnApiRunner, see :func:`default_runner`), in-process for one worker
or multi-processing with ``--workers`` processes. Any other runner (Dataflow, Flink, Spark, Portable) is selected by
passing its Beam flags through (``--runner FlinkRunner ...``); clcm adds nothing runner-specific.
"""

from __future__ import annotations

import argparse
import difflib
import functools
from collections.abc import Sequence

from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, SetupOptions, StandardOptions

from clcm.errors import UsageError

# One thread per worker process: torch/ct2 thread pools oversubscribe shared cores badly (10-40x slower generation).
WORKER_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}


def make_pipeline_options(
    beam_args: Sequence[str] = (),
    *,
    workers: int = 1,
    runner: str | None = None,
) -> PipelineOptions:
    """Build PipelineOptions from pass-through Beam flags plus clcm's local defaults.

    On the DirectRunner ``workers > 1`` runs ``multi_processing`` (one process per worker); a
    ``--direct_running_mode`` flag in ``beam_args`` wins. (Beam's ``multi_threading`` mode lost rows at ~20,000
    captions; translate's ``--workers`` is parallel batches of one model instead, see ``translate_run``.)

    Args:
        beam_args: raw Beam flags from the command line or config (e.g. ``["--runner", "DataflowRunner", ...]``).
        workers: DirectRunner workers (``direct_num_workers``); 1 runs in-process.
        runner: runner name used when ``beam_args`` names none (default ``DirectRunner``).
    """
    check_beam_args(beam_args)
    options = PipelineOptions(list(beam_args))
    std = options.view_as(StandardOptions)
    if not std.runner:
        std.runner = runner or "DirectRunner"
    if std.runner in ("DirectRunner", "direct"):
        direct = options.view_as(DirectOptions)
        explicit = any(a.startswith("--direct_running_mode") for a in beam_args)
        if workers > 1:
            direct.direct_num_workers = workers
            if not explicit:
                direct.direct_running_mode = "multi_processing"
        elif not explicit:
            direct.direct_running_mode = "in_memory"
    options.view_as(SetupOptions).save_main_session = False
    return options


def default_runner(options: PipelineOptions) -> object | None:
    """The runner object for ``beam.Pipeline(runner=...)``: the DirectRunner's in-process engine for local runs.

    Beam's DirectRunner first tries to download and start the Prism runner (which fails offline, and when it works
    ignores ``direct_num_workers``), then falls back to the FnApiRunner. clcm goes to the FnApiRunner directly; it
    honours ``direct_running_mode``/``direct_num_workers``. ``--runner FnApiRunner`` names that engine itself (so it
    runs in rounds too, see :mod:`clcm.pipelines.rounds`). Any other runner is left to Beam (returns None).
    """
    if runner_name(options) not in ("DirectRunner", "direct", "FnApiRunner"):
        return None
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner

    return FnApiRunner()


def runner_name(options: PipelineOptions) -> str:
    """The runner an options object selects, for manifests."""
    return str(options.view_as(StandardOptions).runner or "DirectRunner")


@functools.cache
def _beam_parser() -> argparse.ArgumentParser:
    """An argument parser that knows every Beam pipeline option (built like PipelineOptions.get_all_options)."""
    from apache_beam.options.pipeline_options import _BeamArgumentParser

    parser = _BeamArgumentParser(allow_abbrev=False)
    for cls in {str(c): c for c in PipelineOptions.__subclasses__()}.values():
        cls._add_argparse_args(parser)  # noqa: SLF001 - Beam's own way of collecting its options
    return parser


def check_beam_args(beam_args: Sequence[str], own_flags: Sequence[str] = ()) -> None:
    """Raise UsageError for a flag that is neither one of ``own_flags`` (the command's) nor a Beam pipeline option.

    Without this a typo (``--modle DIR``) would be handed to Beam, which drops unknown flags with a warning.
    """
    parser = _beam_parser()
    try:
        _, unknown = parser.parse_known_args(list(beam_args))
    except SystemExit:  # a known Beam flag with a bad value: Beam itself reports it
        return
    flags = [a.split("=", 1)[0] for a in unknown if a.startswith("-") and a != "--"]
    if not flags:
        return
    known = [*own_flags, *(s for s in parser._option_string_actions if s.startswith("--"))]  # noqa: SLF001
    close = difflib.get_close_matches(flags[0], dict.fromkeys(known), n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    raise UsageError(f"no such option: {flags[0]}{hint} (neither a clcm option nor a Beam pipeline option)")
