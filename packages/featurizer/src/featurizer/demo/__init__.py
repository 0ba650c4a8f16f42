"""Synthetic media for the demo and the tests: nothing here is used by extraction.

- :mod:`.corpus`: the demo corpus in the Aff-Wild2 layout (drawn faces and a voice that follow
  the labels), written as videos, annotations and aligned crops (encoded with
  :mod:`featurizer.media.encode`, re-exported here for the tests);
- :mod:`.affect`: the corpus's valence/arousal and action units, functions of the drawn faces
  and the voice, each task annotating its own subset of videos;
- :mod:`.speech`: real speech from eSpeak NG (the espeakng-loader wheel, when installed);
- :mod:`.portrait`: a clip of a real face (scikit-image's astronaut photograph) with that speech.

May import: :mod:`featurizer.core`, :mod:`featurizer.media`.

exprnet's :mod:`exprnet.data.synthetic` is a different thing: feature arrays written straight into
a store (no media), so exprnet's benchmarks and tests need no extraction.
"""

from ..media.encode import encode_audio, encode_video
from .corpus import draw_face, make_demo, voice

__all__ = ["draw_face", "encode_audio", "encode_video", "make_demo", "voice"]
