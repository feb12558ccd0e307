"""`clcm-data run`: every stage from one config, idempotent, resumable and incremental.

Flow: ``import -> translate -> score -> filter -> train -> evaluate`` (and ``export``), each stage writing
``RUN_DIR/<stage>/`` with its ``_manifest.json``. After a stage returns, the runner writes
``RUN_DIR/<stage>/_stage.json`` last: the stage's key and the sha256 of every file the stage wrote. A stage is
*complete* only when that stamp exists, its key is the current key and every listed file is present with the same
sha256; a complete stage is skipped. Anything else (no stamp: a run was killed or failed there; a changed key; a
missing or altered file) clears the directory and re-runs the stage. Keys chain: ``key(stage) = hash(section,
fingerprints, key(input stage), sha256 of the input stage's outputs)``, the input stage being the one whose output
the stage reads (``run_config.STAGE_INPUTS``); the import fingerprint covers the input files' contents, the
translate fingerprint the local model directories, the train fingerprint its features, text model and validation
queries. So a changed config, input or model re-runs that stage and every stage that reads from it, while a stage
repaired to the same bytes leaves the stages after it alone.

Incremental runs: the translate stage's content-addressed cache lives in ``RUN_DIR/cache`` (unless the config sets
``cache_dir``), so re-running over a grown caption set translates only the new texts and writes the same rows a
from-scratch run would. Crash safety: every shard is written temp-file + rename, and a stage without a stamp is
never trusted. A lock file stops two runs from sharing one run directory.

The run directory may be an object-store URL (``s3://bucket/runs/nightly``): stage directories, stamps, the run log
and every hash go through :mod:`clcm.storage`. Such a run directory is **not locked** (object stores have no
advisory locks): the scheduler must not start two runs on one at once. A stamp takes the sha256 of the shards the
stage's manifest records (with the same size) from there, so a stage's outputs are hashed once, by their writer;
checking a stamp on the next run hashes the files again (that is the check).
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from clcm import __version__, storage
from clcm.errors import OutputError, UsageError
from clcm.pipelines.run_config import STAGE_ORDER, RunConfig, StageSection
from clcm.pipelines.run_model_stages import MODEL_STAGES
from clcm.pipelines.run_stages import DATA_STAGES, Stage, StageContext
from clcm.schemas import MANIFEST_NAME, config_hash, write_text_atomic
from clcm.schemas.manifest import known_sha256, recorded_shards
from clcm.schemas.outdir import RUN_LOCK_NAME

STAGES: dict[str, Stage] = {**DATA_STAGES, **MODEL_STAGES}
STAMP_NAME = "_stage.json"
LOCK_NAME = RUN_LOCK_NAME
RUN_LOG = "_run.json"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StageStatus:
    """What the runner did with one stage: ``ran`` or ``skipped``, why, and the stage's manifest counts."""

    stage: str
    action: str
    why: str
    seconds: float = 0.0
    counts: dict[str, Any] = dataclasses.field(default_factory=dict)


def stage_key(section: StageSection, upstream_key: str | None, fingerprint: Mapping[str, Any]) -> str:
    """The hash that decides whether a stage's outputs are still valid."""
    return config_hash(
        {
            "stage": section.name,
            "section": section.as_dict(),
            "upstream": upstream_key,
            "fingerprint": dict(fingerprint),
            "clcm": __version__,
        }
    )


def output_files(stage_dir: str) -> dict[str, str]:
    """``relative path -> sha256`` of every visible file a stage wrote (hidden temp files and the stamp excluded);
    a shard the stage's manifest records with the same size keeps the sha256 its writer recorded."""
    recorded = recorded_shards(stage_dir)
    files = {}
    for path, size in storage.tree_sizes(stage_dir).items():  # sizes from the listing: no request per file
        rel = storage.relpath(path, stage_dir)
        if any(part.startswith(".") for part in rel.split("/")) or rel == STAMP_NAME:
            continue
        files[rel] = known_sha256(path, size, recorded) or storage.sha256(path)
    return dict(sorted(files.items()))


def check_complete(stage_dir: str, key: str) -> str | None:
    """None when the stage's outputs are complete for ``key``, else why it must (re-)run."""
    stamp_path = storage.join(stage_dir, STAMP_NAME)
    if not storage.is_dir(stage_dir):
        return "no previous output"
    if not storage.is_file(stamp_path):
        return "previous run did not finish (no completion stamp)"
    try:
        stamp = json.loads(storage.read_text(stamp_path))
    except (OSError, ValueError):
        return "completion stamp unreadable"
    if stamp.get("key") != key:
        return "config, input or upstream changed"
    if not storage.is_file(storage.join(stage_dir, MANIFEST_NAME)):
        return "manifest missing"
    for name, digest in stamp.get("files", {}).items():
        path = storage.join(stage_dir, name)
        if not storage.is_file(path):
            return f"output {name} missing"
        if storage.sha256(path) != digest:
            return f"output {name} changed"
    return None


def outputs_digest(stage_dir: str) -> dict[str, str]:
    """The recorded sha256 of a complete stage's outputs, manifest excluded (it holds timestamps)."""
    stamp = json.loads(storage.read_text(storage.join(stage_dir, STAMP_NAME)))
    return {k: v for k, v in stamp["files"].items() if k != MANIFEST_NAME}


def clear_stage_dir(stage_dir: str) -> None:
    """Remove a stale or outdated stage directory and recreate it empty."""
    try:
        storage.delete_tree(stage_dir)
        storage.makedirs(stage_dir)
    except OSError as exc:
        raise OutputError(f"cannot write to {stage_dir}: {exc}") from None


def write_stamp(stage_dir: str, stage: str, key: str) -> None:
    """Mark a stage complete (written last, atomically)."""
    stamp = {"stage": stage, "key": key, "files": output_files(stage_dir)}
    write_text_atomic(storage.join(stage_dir, STAMP_NAME), json.dumps(stamp, indent=2, sort_keys=True) + "\n")


@contextmanager
def run_lock(run_dir: str) -> Iterator[None]:
    """Hold an exclusive lock on local ``run_dir`` (released by the OS even when the process is killed). An
    object-store run directory is not locked (no advisory locks there): the log says so."""
    if storage.is_url(run_dir):
        log.warning("run directory %s is on an object store and cannot be locked: do not start a second run on "
                    "it until this one ends", run_dir)  # fmt: skip
        yield
        return
    try:
        os.makedirs(run_dir, exist_ok=True)
        fh = open(os.path.join(run_dir, LOCK_NAME), "a+")  # noqa: SIM115 - held for the whole run
    except OSError as exc:
        raise OutputError(f"cannot write to run directory {run_dir}: {exc}") from None
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UsageError(f"another `clcm-data run` is using {run_dir}; wait for it to finish") from None
        yield
    finally:
        fh.close()


def _manifest_counts(stage_dir: str) -> dict[str, Any]:
    try:
        return json.loads(storage.read_text(storage.join(stage_dir, MANIFEST_NAME))).get("counts", {})
    except (OSError, ValueError):
        return {}


def run(
    config: RunConfig,
    *,
    beam_args: Sequence[str] = (),
    force: Sequence[str] = (),
    on_status: Callable[[StageStatus], None] | None = None,
) -> list[StageStatus]:
    """Run (or skip) every configured stage in order.

    Args:
        config: the validated run config.
        beam_args: Beam flags from the command line; they follow the config's ``beam_args`` and so win.
        force: stage names to re-run even when complete (``all`` for every stage).
        on_status: called with each stage's status as soon as it is known (progress display).

    Returns:
        One status per configured stage. Stage errors (ClcmError) propagate; that stage stays incomplete.
    """
    unknown = [f for f in force if f != "all" and f not in STAGE_ORDER]
    if unknown:
        raise UsageError(f"--force: unknown stage {unknown[0]!r}; stages are {', '.join(STAGE_ORDER)}")
    from clcm.pipelines.options import check_beam_args

    check_beam_args((*config.beam_args, *beam_args))  # a typo in beam_args fails before any stage runs
    if config.beam_args or beam_args:  # object-store flags (--s3_endpoint_url ...) for the driver's own files too
        storage.configure((*config.beam_args, *beam_args))
    run_dir = config.run_dir
    statuses: list[StageStatus] = []
    with run_lock(run_dir):
        planned = []  # every section is validated before any stage runs
        contexts: dict[str, StageContext] = {}
        for section in config.stages:
            stage = STAGES[section.name]
            source = config.input_of(section.name)
            ctx = StageContext(
                run_dir=run_dir,
                out=storage.join(run_dir, section.name),
                upstream=contexts[source] if source else None,
                beam_args=(*config.beam_args, *beam_args),
                workers=config.workers,
                cache_dir=config.translation_cache,
            )
            planned.append((section, stage, ctx, stage.build(section.as_dict(), ctx)))
            contexts[section.name] = ctx
        done_keys: dict[str, str] = {}  # stage -> hash(its key, its outputs): the next stage's upstream key
        ran: set[str] = set()
        for section, stage, ctx, stage_config in planned:
            source = ctx.upstream.name if ctx.upstream else None
            key = stage_key(section, done_keys.get(source or ""), stage.fingerprint(stage_config, ctx))
            why = check_complete(ctx.out, key)
            if why == "config, input or upstream changed" and source in ran:
                why = f"upstream {source} re-ran"
            if why is None and ("all" in force or section.name in force):
                why = "forced"
            if why is None:
                status = StageStatus(section.name, "skipped", "complete, unchanged", 0.0, _manifest_counts(ctx.out))
            else:
                t0 = time.perf_counter()
                clear_stage_dir(ctx.out)
                stage.execute(stage_config, ctx)
                write_stamp(ctx.out, section.name, key)
                seconds = round(time.perf_counter() - t0, 3)
                status = StageStatus(section.name, "ran", why, seconds, _manifest_counts(ctx.out))
            if status.action == "ran":
                ran.add(section.name)
            statuses.append(status)
            if on_status:
                on_status(status)
            done_keys[section.name] = config_hash({"key": key, "outputs": outputs_digest(ctx.out)})
        write_run_log(run_dir, config, statuses)
    return statuses


def write_run_log(run_dir: str, config: RunConfig, statuses: Sequence[StageStatus]) -> None:
    """``RUN_DIR/_run.json``: the last run's per-stage actions (a scheduler can read or archive it)."""
    log = {
        "config": config.source,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "stages": [dataclasses.asdict(s) for s in statuses],
    }
    write_text_atomic(storage.join(run_dir, RUN_LOG), json.dumps(log, indent=2, sort_keys=True) + "\n")


__all__ = ["STAGES", "StageStatus", "check_complete", "run", "stage_key"]
