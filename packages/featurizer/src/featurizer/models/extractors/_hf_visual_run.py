"""The torch side of :mod:`.hf_visual`: which output of a transformers image encoder is a row.
Imports torch; imported inside ``hf_visual``'s factory."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ._torch_visual import TorchFaceExtractor


@dataclass
class TransformersFaceExtractor(TorchFaceExtractor):
    """``output``: ``cls`` / ``mean`` (DINOv2: pooled class token / mean patch token after the
    final layer norm, ``registers`` register tokens skipped), ``embeds`` / ``pooled`` (CLIP:
    projected / unprojected pooled class token)."""

    output: str = "cls"
    registers: int = 0

    def forward(self, x: Any) -> Any:
        m = self.model
        if self.output in ("embeds", "pooled"):
            pooled = m.vision_model(pixel_values=x).pooler_output
            return m.visual_projection(pooled) if self.output == "embeds" else pooled
        out = m(pixel_values=x)
        if self.output == "mean":
            return out.last_hidden_state[:, 1 + self.registers :].mean(dim=1)
        return out.pooler_output
