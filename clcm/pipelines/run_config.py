"""The `clcm-data run` config: one YAML file describing every stage, validated into frozen dataclasses.

Example (see ``examples/run-local.yaml``)::

    run_dir: runs/nightly          # where each stage writes RUN_DIR/<stage>/ (``--run-dir`` overrides)
    workers: 1                     # DirectRunner worker processes
    beam_args: [--runner, DirectRunner]
    import:    {format: multi30k, inputs: [data/multi30k], langs: [en], splits: [train]}
    translate: {tgt_langs: [de, cs], model: models/opus-mt, backend: ct2}
    score:     {...}               # keys of clcm.pipelines.score's config
    filter:    {...}
    train:     {features: feats/train.npy, val: data/val_cs.parquet, objective: baseline, ...}  # TrainConfig keys
    evaluate:  {queries: data/test_cs.parquet}
    export:    {format: nrccr}

A section's keys are exactly the fields of that stage's own config dataclass (``ImportConfig``, ``TranslateConfig``,
...), minus the paths the runner fills in (inputs from the upstream stage, the output directory); nested
dataclasses (``translate.settings``) are YAML mappings. Any other key is a :class:`~clcm.errors.UsageError` naming
the key and its section. Stages run in the order of :data:`STAGE_ORDER`; every stage but ``import`` is optional.
A stage reads the output of the nearest configured stage among its :data:`STAGE_INPUTS` (``train`` reads
``filter``'s kept pairs, or ``score``'s or ``translate``'s pairs when there is no filter; ``export`` reads the last
data stage, never a model) and needs at least one of them.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clcm import storage
from clcm.configs import build_config, check_config, load_yaml, max_workers, option, unknown_key_error
from clcm.errors import UsageError

STAGE_ORDER = ("import", "translate", "score", "filter", "train", "evaluate", "export")
# The stages whose output a stage can read, nearest first: its input is the first of these that is configured.
STAGE_INPUTS: dict[str, tuple[str, ...]] = {
    "import": (),
    "translate": ("import",),
    "score": ("translate", "import"),  # import: pairs imported as such (human or external translations)
    "filter": ("score",),
    "train": ("filter", "score", "translate"),
    "evaluate": ("train",),
    "export": ("filter", "score", "translate", "import"),
}
TOP_LEVEL_KEYS = ("run_dir", "workers", "beam_args", "cache_dir", *STAGE_ORDER)


@dataclass(frozen=True)
class StageSection:
    """One stage's section: its name and its options as given (lists made tuples), sorted by key."""

    name: str
    options: tuple[tuple[str, Any], ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return dict(self.options)


@dataclass(frozen=True)
class RunConfig:
    """A whole run.

    Args:
        run_dir: the run directory (one sub-directory per stage, plus ``cache/``).
        stages: the configured stages, in run order.
        workers: DirectRunner worker processes (1 = in-process; outputs do not depend on it).
        beam_args: Beam pipeline flags for the Beam stages; flags on the command line come after and win.
        cache_dir: translation cache root; None = ``RUN_DIR/cache`` (so re-runs translate only new captions).
        source: the config file this was read from (for messages).
    """

    run_dir: str
    stages: tuple[StageSection, ...]
    workers: int = option(1, ge=1, le=max_workers)  # in-process is fastest for small runs (no process start-up)
    beam_args: tuple[str, ...] = ()
    cache_dir: str | None = None
    source: str = "<config>"

    def __post_init__(self) -> None:
        check_config(self)

    def stage(self, name: str) -> StageSection | None:
        return next((s for s in self.stages if s.name == name), None)

    def input_of(self, name: str) -> str | None:
        """The configured stage whose output stage ``name`` reads (None for ``import``)."""
        names = {s.name for s in self.stages}
        return next((n for n in STAGE_INPUTS[name] if n in names), None)

    @property
    def translation_cache(self) -> str:
        return self.cache_dir or storage.join(self.run_dir, "cache")


def _freeze(value: Any) -> Any:
    """Lists become tuples (recursively) so configs are hashable and dataclass-friendly."""
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, Mapping):
        return {str(k): _freeze(v) for k, v in value.items()}
    return value


def check_keys(given: Mapping[str, Any], allowed: typing.Iterable[str], section: str) -> None:
    """Raise UsageError naming the first key of ``given`` not in ``allowed`` (and its close matches)."""
    allowed = tuple(allowed)
    for key in given:
        if key not in allowed:
            raise unknown_key_error(str(key), allowed, section)


build_dataclass = build_config  # the one config builder (clcm.configs); this name is kept for the stages


def parse_run_config(data: Any, *, run_dir: str | None = None, source: str = "<config>") -> RunConfig:
    """Validate a parsed YAML mapping into a RunConfig (section contents are checked by :mod:`clcm.pipelines.run`).

    Args:
        data: the parsed YAML document.
        run_dir: overrides the config's ``run_dir``.
        source: the config's path, for messages.
    """
    if not isinstance(data, Mapping):
        raise UsageError(f"{source}: a run config must be a mapping of sections, got {type(data).__name__}")
    check_keys(data, TOP_LEVEL_KEYS, "top level")
    run_dir = run_dir or data.get("run_dir")
    if not run_dir:
        raise UsageError(f"{source}: no run directory: set `run_dir:` in the config or pass --run-dir")
    stages = []
    for name in STAGE_ORDER:
        if data.get(name) is None:
            continue
        section = data[name]
        if not isinstance(section, Mapping):
            raise UsageError(f"section {name!r} must be a mapping, got {type(section).__name__}")
        stages.append(StageSection(name, tuple(sorted(_freeze(section).items()))))
    names = [s.name for s in stages]
    if "import" not in names:
        raise UsageError(f"{source}: the run config needs an `import:` section")
    for name in names:
        needs = STAGE_INPUTS[name]
        if needs and not any(n in names for n in needs):
            raise UsageError(f"section {name!r} needs the {' or '.join(repr(n) for n in needs)} section before it")
    workers = data.get("workers", 1)
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise UsageError(f"`workers` must be a positive integer, got {workers!r}")
    beam_args = data.get("beam_args") or ()
    if not isinstance(beam_args, list | tuple) or not all(isinstance(a, str) for a in beam_args):
        raise UsageError("`beam_args` must be a list of strings, e.g. [--runner, FlinkRunner]")
    cache_dir = data.get("cache_dir")
    return RunConfig(
        run_dir=str(run_dir),
        stages=tuple(stages),
        workers=workers,
        beam_args=tuple(beam_args),
        cache_dir=str(cache_dir) if cache_dir else None,
        source=source,
    )


def load_run_config(path: str | Path, *, run_dir: str | None = None) -> RunConfig:
    """Read and validate a YAML run config; relative paths in it stay relative to the working directory."""
    data = load_yaml(path, "run config")
    return parse_run_config(data, run_dir=run_dir, source=str(path))


__all__ = [
    "STAGE_INPUTS",
    "STAGE_ORDER",
    "RunConfig",
    "StageSection",
    "build_dataclass",
    "check_keys",
    "load_run_config",
    "parse_run_config",
]
