"""OmegaConf resolvers used by the configs (registered when har.run.pipeline is imported)."""

from __future__ import annotations

import torch
from omegaconf import OmegaConf


def amp_precision() -> str:
    """Lightning precision for "mixed precision where it helps": bf16-mixed on GPUs that have bf16 (Ampere and
    newer), 16-mixed on older GPUs, 32-true without a GPU (bf16 autocast on a CPU is ~25× slower than fp32)."""
    if not torch.cuda.is_available():
        return "32-true"
    return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"


def register_resolvers() -> None:
    if not OmegaConf.has_resolver("amp_precision"):
        OmegaConf.register_new_resolver("amp_precision", amp_precision)
