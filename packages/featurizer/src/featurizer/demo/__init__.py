"""Synthetic media for the demo and the tests: nothing here is used by extraction.

- :mod:`.media`: encode frames and audio with PyAV (H.264/AAC, constant or variable frame rate);
- :mod:`.corpus`: the demo corpus in the Aff-Wild2 layout (drawn faces and a voice that follow
  the labels), written as videos, annotations and aligned crops;
- :mod:`.speech`: real speech from eSpeak NG (the espeakng-loader wheel, when installed);
- :mod:`.portrait`: a clip of a real face (scikit-image's astronaut photograph) with that speech.

exprnet's :mod:`exprnet.data.synthetic` is a different thing: feature arrays written straight into
a store (no media), so exprnet's benchmarks and tests need no extraction.
"""

from .corpus import draw_face, make_demo, voice
from .media import encode_audio, encode_video

__all__ = ["draw_face", "encode_audio", "encode_video", "make_demo", "voice"]
