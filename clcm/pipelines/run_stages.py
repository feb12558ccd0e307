"""The stages `clcm-data run` orchestrates: how each builds its own config from a run-config section and runs.

Each :class:`Stage` adapter knows three things about one stage: which config dataclass its section fills (the
runner sets the paths: inputs come from the input stage's directory, outputs go to ``RUN_DIR/<stage>``), what
besides its section decides its outputs (``fingerprint``: input file contents, local model directories, features),
and how to run it. The stage libraries are imported lazily, so a run config validates without Beam or torch loaded.
The model stages (``train``, ``evaluate``) are in :mod:`clcm.pipelines.run_model_stages`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from clcm import storage
from clcm.errors import InputError, UsageError
from clcm.pipelines.run_config import build_dataclass
from clcm.schemas import check_lang, layout


@dataclass(frozen=True)
class StageContext:
    """Where a stage runs: the run directory, its own output directory and the previous stage's context."""

    run_dir: str
    out: str
    upstream: StageContext | None
    beam_args: tuple[str, ...]
    workers: int
    cache_dir: str

    @property
    def name(self) -> str:
        return storage.basename(self.out)


def tree_digest(paths: Sequence[str]) -> dict[str, Any]:
    """Content fingerprint of inputs (local or URL): ``path -> sha256`` (over every file of a directory, hidden
    ones excluded; missing: None, the stage itself reports a missing input)."""
    out: dict[str, Any] = {}
    for raw in paths:
        raw = os.fspath(raw)
        if storage.is_file(raw):
            out[raw] = storage.sha256(raw)
        elif storage.is_dir(raw):
            h = hashlib.sha256()
            for f in storage.list_tree(raw):
                rel = storage.relpath(f, raw)
                if not any(part.startswith(".") for part in rel.split("/")):
                    h.update(rel.encode() + b"\0" + storage.sha256(f).encode())
            out[raw] = h.hexdigest()
        else:
            out[raw] = None
    return out


class Stage(ABC):
    """One stage of a run."""

    name: str

    @abstractmethod
    def build(self, section: Mapping[str, Any], ctx: StageContext) -> Any:
        """The stage's own config object (raises UsageError on unknown keys or bad values)."""

    def fingerprint(self, config: Any, ctx: StageContext) -> dict[str, Any]:
        """What besides the section and upstream decides the outputs (default: nothing)."""
        return {}

    @abstractmethod
    def execute(self, config: Any, ctx: StageContext) -> None:
        """Run the stage into ``ctx.out`` (an empty directory); it writes ``_manifest.json``."""


def require_upstream(ctx: StageContext, stage: str) -> StageContext:
    if ctx.upstream is None:
        raise UsageError(f"section {stage!r} needs a stage before it")
    return ctx.upstream


class ImportStage(Stage):
    name = "import"

    def build(self, section: Mapping[str, Any], ctx: StageContext) -> Any:
        from clcm.formats.importer import ImportConfig

        config = build_dataclass(ImportConfig, section, "import", {"out": str(ctx.out), "overwrite": True})
        if isinstance(config.inputs, str):
            config = dataclasses.replace(config, inputs=(config.inputs,))
        config.validate()
        return config

    def fingerprint(self, config: Any, ctx: StageContext) -> dict[str, Any]:
        return {"inputs": tree_digest(list(config.inputs))}

    def execute(self, config: Any, ctx: StageContext) -> None:
        from clcm.formats.importer import run_import

        run_import(config)


class TranslateStage(Stage):
    name = "translate"

    def build(self, section: Mapping[str, Any], ctx: StageContext) -> Any:
        from clcm.pipelines.translate import TranslateConfig

        up = require_upstream(ctx, self.name)
        fixed = {"inputs": (str(up.out),), "out_dir": str(ctx.out), "cache_dir": ctx.cache_dir, "workers": ctx.workers}
        config = build_dataclass(TranslateConfig, section, "translate", fixed)
        if isinstance(config.tgt_langs, str):
            config = dataclasses.replace(config, tgt_langs=(config.tgt_langs,))
        if not config.tgt_langs:
            raise UsageError("section 'translate': tgt_langs is empty; name at least one target language")
        for lang in (config.src_lang, *config.tgt_langs):
            try:
                check_lang(lang)
            except ValueError as exc:
                raise UsageError(f"section 'translate': {exc}") from None
        return config

    def fingerprint(self, config: Any, ctx: StageContext) -> dict[str, Any]:
        models = {m for m in (config.model, config.bt_model) if m and os.path.isdir(m)}
        return {"models": tree_digest(sorted(models))}

    def execute(self, config: Any, ctx: StageContext) -> None:
        from clcm.pipelines.translate_run import run

        up = require_upstream(ctx, self.name)
        try:
            files = layout.input_files(str(up.out), layout.CAPTION_INPUTS, what="caption shards")
        except InputError:
            raise UsageError(f"nothing to translate: {up.out} holds no caption shards") from None
        run(dataclasses.replace(config, inputs=tuple(files)), ctx.beam_args)


class ScoreStage(Stage):
    """Score the translate (or import) stage's pair shards (its ``pairs/``, not ``rejects/``: schemas/layout.py)."""

    name = "score"

    def build(self, section: Mapping[str, Any], ctx: StageContext) -> Any:
        from clcm.pipelines.score import ScoreConfig

        up = require_upstream(ctx, self.name)
        fixed = {"inputs": str(up.out), "out_dir": str(ctx.out), "workers": ctx.workers}
        config = build_dataclass(ScoreConfig, section, "score", fixed)
        if isinstance(config.scorers, str):
            config = dataclasses.replace(config, scorers=(config.scorers,))
        return config

    def fingerprint(self, config: Any, ctx: StageContext) -> dict[str, Any]:
        """Digests of the local model directories the scorers' options name (e.g. an embedder)."""
        paths = sorted({v for o in config.options().values() for v in o.values() if isinstance(v, str)})
        local = [p for p in paths if os.path.isdir(p)]
        return {"models": {p: tree_digest([p]) for p in local}} if local else {"embedder": None}

    def execute(self, config: Any, ctx: StageContext) -> None:
        from clcm.pipelines.score import run

        up = require_upstream(ctx, self.name)
        try:
            layout.input_files(str(up.out), layout.PAIR_INPUTS, what="pair shards")
        except InputError:
            raise UsageError(
                f"nothing to score: {up.out} holds no pair shards (import pairs with --as-pairs or "
                "rows that have tgt_text, or add a translate section)"
            ) from None
        run(config, ctx.beam_args)


class FilterStage(Stage):
    name = "filter"

    def build(self, section: Mapping[str, Any], ctx: StageContext) -> Any:
        from clcm.pipelines.filter import FilterConfig

        up = require_upstream(ctx, self.name)
        return build_dataclass(FilterConfig, section, "filter", {"scored": str(up.out), "out_dir": str(ctx.out)})

    def execute(self, config: Any, ctx: StageContext) -> None:
        from clcm.pipelines.filter import run

        run(config)


class ExportStage(Stage):
    """Export the last stage's rows (a filter stage's ``kept/``, a score stage's ``scored/``: see layout.py)."""

    name = "export"

    def build(self, section: Mapping[str, Any], ctx: StageContext) -> Any:
        from clcm.formats.export import ExportConfig

        up = require_upstream(ctx, self.name)
        return build_dataclass(ExportConfig, section, "export", {"input": str(up.out), "out": str(ctx.out)})

    def execute(self, config: Any, ctx: StageContext) -> None:
        from clcm.formats.export import run_export

        run_export(config)


DATA_STAGES: dict[str, Stage] = {
    "import": ImportStage(),
    "translate": TranslateStage(),
    "score": ScoreStage(),
    "filter": FilterStage(),
    "export": ExportStage(),
}
