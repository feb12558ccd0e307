"""The Objective interface every training method implements (baseline, nrccr, cl2cm, nrf).

An :class:`Objective` is an ``nn.Module`` that owns *all* of its modules: text/visual encoders, heads, mappings and
method-specific parts (discriminator, teacher, noise filter). The trainer only talks to this interface:

- ``__init__(ctx: BuildContext)``: build modules. ``ctx.options`` holds the objective's own config keys
  (``objective_options:`` in the YAML); parse them with :func:`clcm.training.config.parse_options` so unknown keys
  raise.
- ``stages() -> list[Stage]``: training stages run in order (default: one stage ``"main"``). A stage with
  ``epochs=None`` runs the trainer's ``epochs``.
- ``param_groups(stage, lr) -> list[dict]``: Adam parameter groups of the *main* optimizer for a stage (default:
  every trainable parameter not in ``aux_modules()``, at ``lr``). Parameters left out are not updated.
- ``forward(batch, stage) -> dict[str, Tensor]``: weighted loss terms, keys ending in ``_loss``. The trainer sums
  them, backpropagates, clips (``grad_clip``) and steps; each term is logged.
- ``before_backward(batch, stage) -> dict[str, Tensor]``: called after ``forward`` and before the backward pass.
  May take extra optimizer steps of its own (NRCCR: the discriminator's Adam step on detached features stashed by
  ``forward``) and returns further weighted ``_loss`` terms to add (NRCCR: the generator term). Default: ``{}``.
- ``aux_optimizers() -> dict[str, Optimizer]``: optimizers the objective steps itself; the trainer saves and
  restores their state in checkpoints. ``aux_modules()`` lists the modules they own (kept out of the main optimizer).
- Evaluation: ``encode_visual(visual, visual_mask) -> (N, d)`` L2-normalised; ``query_views() -> tuple[str, ...]``
  names the query views the method scores with (``"tgt"``: the human target caption; ``"mt_en"``: its MT into
  English, NRCCR's fused scoring); ``encode_text(tokens, view) -> (N, d)`` L2-normalised.
  With several views the evaluation fuses min-max normalised errors (methods.md §1.5) using
  ``fusion_weight`` for ``"mt_en"``.

A batch (see :mod:`clcm.training.data`) is a dict:
``src`` / ``tgt`` / ``bt``: tokenised text (dict with ``input_ids``, ``attention_mask``; ``bt`` may be None),
``visual``: (B, D) image features or (B, T, D) frame features, ``visual_mask``: (B, T) float or None,
``media_ids``: list[str], ``weight``: (B,) float sample weights or None, ``nrf_selected``: (B,) bool or None,
``columns``: name -> (B,) float64 tensor for each of ``data_columns()`` (NaN where a row has no value).

``train_defaults`` (class attribute): the optimizer, schedule, epochs, token limit, AMP and validation fusion the
method uses unless the config sets them (see :func:`clcm.training.config.resolve_defaults`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import nn

if TYPE_CHECKING:
    from torch import Tensor


@dataclass(frozen=True)
class Stage:
    """One training stage: its name, epoch budget (None = the trainer's), and whether it validates."""

    name: str = "main"
    epochs: int | None = None
    validate: bool = True  # run validation each epoch (selects the best checkpoint, drives early stopping)


@dataclass(frozen=True)
class BuildContext:
    """What an objective needs to build its modules."""

    text_model: str  # HF hub id or local directory of the text encoder (AutoModel + AutoTokenizer)
    visual_dim: int  # feature dimension of one visual vector
    frames: bool = False  # visual inputs are frame sequences (B, T, D) with a mask
    trainable_layers: tuple[str, ...] | None = None  # substrings of encoder layer names to train; None = all
    options: Mapping[str, Any] = field(default_factory=dict)  # the objective's own config keys


class Objective(nn.Module):
    """Base class; see the module docstring for the contract."""

    name: str = "objective"
    #: Training settings this method declares: TrainConfig keys the config leaves unset take these values (then
    #: config.COMMON_DEFAULTS). E.g. CL2CM's AdamW, 10% linear warm-up and 64 tokens; NRCCR's fp32.
    train_defaults: ClassVar[Mapping[str, Any]] = {}

    def data_columns(self) -> tuple[str, ...]:
        """Extra pair-shard columns the method reads; they reach ``forward`` as ``batch["columns"][name]``."""
        return ()

    def stages(self) -> list[Stage]:
        return [Stage()]

    def aux_modules(self) -> list[nn.Module]:
        return []

    def aux_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {}

    def param_groups(self, stage: Stage, lr: float) -> list[dict[str, Any]]:
        aux = {id(p) for m in self.aux_modules() for p in m.parameters()}
        params = [p for p in self.parameters() if p.requires_grad and id(p) not in aux]
        return [{"params": params, "lr": lr}]

    def forward(self, batch: dict[str, Any], stage: Stage) -> dict[str, Tensor]:  # pragma: no cover - abstract
        raise NotImplementedError

    def before_backward(self, batch: dict[str, Any], stage: Stage) -> dict[str, Tensor]:
        return {}

    def query_views(self) -> tuple[str, ...]:
        return ("tgt",)

    def encode_visual(self, visual: Tensor, visual_mask: Tensor | None) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def encode_text(self, tokens: dict[str, Tensor], view: str) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError
