"""Real synthesized speech for test media: eSpeak NG (featurizer.demo.speech)."""

from featurizer.demo.speech import speak, speech_with_pauses

__all__ = ["speak", "speech_with_pauses"]
