"""HOG descriptor of the aligned face crop (OpenCV): 64x64 grey, 8-px cells, 16-px blocks."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..registry import Extractor, Timing, register

HOG_SIZE = 64
# 64x64 window, 16x16 blocks with 16-px stride, 8x8 cells, 9 bins: 4x4 blocks x 4 cells x 9 = 576.
HOG_DIM = 576


def make_hog():
    import cv2

    return cv2.HOGDescriptor((HOG_SIZE, HOG_SIZE), (16, 16), (16, 16), (8, 8), 9)


@dataclass
class Hog(Extractor):
    _hog: object = field(default_factory=make_hog, repr=False)

    def extract_faces(self, crops: np.ndarray) -> np.ndarray:
        import cv2

        out = np.empty((len(crops), self.dim), np.float32)
        for i, rgb in enumerate(crops):
            grey = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
            grey = cv2.resize(grey, (HOG_SIZE, HOG_SIZE), interpolation=cv2.INTER_AREA)
            out[i] = self._hog.compute(grey).reshape(-1)
        return out


@register("hog", modality="visual", dim=HOG_DIM, timing=Timing("per_frame"), recipe_version="1",
          description="OpenCV HOG of the 112x112 aligned face crop (at 64x64)",
          licence="Apache-2.0 (OpenCV)")
def hog() -> Extractor:
    import cv2

    return Hog(name="hog", modality="visual", dim=HOG_DIM, timing=Timing("per_frame"),
               recipe_version="1", weights_id=f"opencv {cv2.__version__} HOGDescriptor",
               batch_size=256)
