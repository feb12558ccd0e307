"""Relational distillation for CL2CM's knowledge transfer (methods.md §2.2; tensor-only math).

InfoNCE and NRCCR's similarity distillation D live in :mod:`clcm.training.losses` and are reused, not duplicated.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def relational_kd(teacher_logits: Tensor, student_logits: Tensor) -> Tensor:
    """KL(softmax_row(R_T) ‖ softmax_row(R_S)) + KL(softmax_col(R_T) ‖ softmax_col(R_S)).

    Each KL is summed over the softmax axis and averaged over the other axis. The teacher is detached here, so no
    gradient can reach it whatever the caller passes.

    Args:
        teacher_logits: (B, B) teacher relation matrix R_T, already divided by its temperature.
        student_logits: (B, B) student relation matrix R_S, already divided by its temperature.

    Returns:
        Scalar loss (0 when the two relation matrices agree).
    """
    if teacher_logits.shape != student_logits.shape or teacher_logits.dim() != 2:
        raise ValueError(
            f"relations must be two equal (B, B) matrices: {teacher_logits.shape} vs {student_logits.shape}"
        )
    teacher_logits = teacher_logits.detach()
    total = student_logits.new_zeros(())
    for dim in (1, 0):  # rows, then columns
        log_p = F.log_softmax(teacher_logits, dim=dim)
        log_q = F.log_softmax(student_logits, dim=dim)
        total = total + (log_p.exp() * (log_p - log_q)).sum(dim=dim).mean()
    return total
