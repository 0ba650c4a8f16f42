"""Who is where in a live stream: featurizer's :class:`FaceTracker` (detect every N frames or when
a face is lost, followed by optical flow in between) and person slots with stable names.

A slot is one person's row stream. The first face seen opens slot ``name``; a face with a new
tracker identity takes the first slot that has no face at that moment (a person lost for longer
than the tracker bridges, found again), else opens ``name_2``, ``name_3`` ... (offline ``exprnet
infer`` names two people ``_left``/``_right`` from the whole video, which a stream cannot know
in advance). Crops are the tracker's causal ones (the landmarks where the flow carried them);
offline scans settle flowed landmarks once the detector finds the face again, so with
``detect_every > 1`` the crops of followed frames differ slightly (equal with ``detect_every=1``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from featurizer import FaceTracker


@dataclass
class Seen:
    """One slot's face in one frame: its aligned crop and box (video pixels)."""

    crop: np.ndarray
    box: np.ndarray


class LiveFaces:
    def __init__(self, detector, detect_every: int, name: str, max_people: int = 4):
        self.tracker = FaceTracker(detector, detect_every)
        self.name, self.max_people = name, max_people
        self.slots: list[str] = []
        self._owner: dict[int, int] = {}  # tracker identity -> slot index

    def step(self, rgb: np.ndarray, t: float) -> dict[str, Seen]:
        """Slot name -> its face in this frame (slots without a face here are absent)."""
        found = self.tracker.step(rgb, t)
        taken = {self._owner[f.track] for f in found.faces if f.track in self._owner}
        out: dict[str, Seen] = {}
        for f in sorted(found.faces, key=lambda f: -float(f.score)):
            slot = self._owner.get(f.track)
            if slot is None:
                free = [k for k in range(len(self.slots)) if k not in taken]
                if free:
                    slot = free[0]
                elif len(self.slots) < self.max_people:
                    slot = len(self.slots)
                    self.slots.append(self.name if slot == 0 else f"{self.name}_{slot + 1}")
                else:
                    continue
                self._owner[f.track] = slot
                taken.add(slot)
            if self.slots[slot] not in out:
                out[self.slots[slot]] = Seen(f.crop, np.asarray(f.box, np.float32))
        live = {f.track for f in found.faces}
        self._owner = {k: v for k, v in self._owner.items() if k in live}
        return out
