"""Media: what a file holds and when, before any model runs.

- :mod:`.decode`: PyAV decoding: streams, frame presentation times, frames, 16 kHz mono audio;
- :mod:`.timeline`: label frames and the alignment of any extractor's rows to them;
- :mod:`.inputs`: which tracks to extract from which file (inputs checked, label rows mapped);
- :mod:`.source`: one source opened ahead of its models (probed, audio decoded), track timelines;
- :mod:`.encode`: H.264/AAC encoding (demo corpus, tests, overlays).
- :mod:`.stream`: a file or a camera as a live stream of frames and 16 kHz audio chunks.

May import: :mod:`featurizer.core`, :mod:`featurizer.errors`. Nothing here loads a model.
"""
