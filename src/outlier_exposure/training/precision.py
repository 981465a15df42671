"""Numeric precision of training and evaluation: fp32 (the reference), bf16 or fp16 autocast."""

from __future__ import annotations

import contextlib

import torch

from ..errors import UserInputError

PRECISIONS = ("fp32", "bf16", "fp16")
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def check(precision: str) -> None:
    if precision not in PRECISIONS:
        raise UserInputError(f"--precision {precision!r}: choose one of {', '.join(PRECISIONS)}")


def check_device(precision: str, device: torch.device) -> None:
    check(precision)
    if precision == "fp16" and device.type != "cuda":
        raise UserInputError("--precision fp16 needs a GPU; on the CPU use bf16 or fp32")


def autocast(precision: str, device: torch.device):
    """Autocast context for the forward pass (a no-op in fp32)."""
    check_device(precision, device)
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=_DTYPES[precision])


def grad_scaler(precision: str, device: torch.device) -> torch.amp.GradScaler:
    """Loss scaling, needed by fp16 only (bf16 has fp32's exponent range)."""
    return torch.amp.GradScaler(device.type, enabled=precision == "fp16")
