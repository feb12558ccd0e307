"""Beam pipeline options shared by every clcm pipeline.

Local default: the DirectRunner's engine (the FnApiRunner, see :func:`default_runner`), in-process for one worker
or multi-processing with ``--workers`` processes. Any other runner (Dataflow, Flink, Spark, Portable) is selected by
passing its Beam flags through (``--runner FlinkRunner ...``); clcm adds nothing runner-specific.
"""

from __future__ import annotations

from collections.abc import Sequence

from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, SetupOptions, StandardOptions

# One thread per worker process: torch/ct2 thread pools oversubscribe shared cores badly (10-40x slower generation).
WORKER_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}


def make_pipeline_options(
    beam_args: Sequence[str] = (), *, workers: int = 1, runner: str | None = None
) -> PipelineOptions:
    """Build PipelineOptions from pass-through Beam flags plus clcm's local defaults.

    Args:
        beam_args: raw Beam flags from the command line or config (e.g. ``["--runner", "DataflowRunner", ...]``).
        workers: DirectRunner worker processes (``direct_num_workers``); 1 runs in-process.
        runner: runner name used when ``beam_args`` names none (default ``DirectRunner``).
    """
    options = PipelineOptions(list(beam_args))
    std = options.view_as(StandardOptions)
    if not std.runner:
        std.runner = runner or "DirectRunner"
    if std.runner in ("DirectRunner", "direct"):
        direct = options.view_as(DirectOptions)
        if workers > 1:
            direct.direct_running_mode = "multi_processing"
            direct.direct_num_workers = workers
        else:
            direct.direct_running_mode = "in_memory"
    options.view_as(SetupOptions).save_main_session = False
    return options


def default_runner(options: PipelineOptions) -> object | None:
    """The runner object for ``beam.Pipeline(runner=...)``: the DirectRunner's in-process engine for local runs.

    Beam's DirectRunner first tries to download and start the Prism runner (which fails offline, and when it works
    ignores ``direct_num_workers``), then falls back to the FnApiRunner. clcm goes to the FnApiRunner directly; it
    honours ``direct_running_mode``/``direct_num_workers``. Any other runner is left to Beam (returns None).
    """
    if runner_name(options) not in ("DirectRunner", "direct"):
        return None
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner

    return FnApiRunner()


def runner_name(options: PipelineOptions) -> str:
    """The runner an options object selects, for manifests."""
    return str(options.view_as(StandardOptions).runner or "DirectRunner")
