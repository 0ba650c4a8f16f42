"""Live: expressions from a camera and microphone (or a file played as one) as they happen.

- :mod:`.engine`: :class:`LiveEngine` (frames and audio in with timestamps, one row per person
  and frame out once decided; bounded queue, counted drops, declared lookahead);
- :mod:`.faces`: featurizer's FaceTracker and person slots; :mod:`.audio`: audio features over a
  rolling buffer on the offline row grid; :mod:`.members`: each member run incrementally;
  :mod:`.post`: combination and post-processing over a sliding window; :mod:`.tasks`: a
  multi-task bundle's VA/AU post-processing and row columns; :mod:`.person`: one
  person's rows through all of it; :mod:`.source`: a camera or a video file as frames and audio;
- :mod:`.errors`: :class:`LiveError`.
"""

from .engine import LiveEngine
from .errors import LiveError

__all__ = ["LiveEngine", "LiveError"]
