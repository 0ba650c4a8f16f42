"""The core is import-light, and exprnet uses it and nothing else of featurizer."""

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "torchaudio", "torchvision", "av", "cv2", "opensmile", "transformers", "timm",
         "speechbrain", "torchvggish", "fastapi", "uvicorn", "ray", "h5py")


def test_core_imports_no_heavy_library():
    code = ("import sys, featurizer.core, featurizer.core.store, featurizer.core.annotations, "
            "featurizer.core.ahead, featurizer.core.device, featurizer.core.console\n"
            f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"featurizer.core pulled in {out.stdout.strip()}"


# public names that reach into media decoding and face detection: they load PyAV and OpenCV
DECODING_NAMES = {"CroppedAlignedFaces", "DetectedFaces", "FaceSource", "FaceTracker", "check_detect_every",
                  "encode_video", "find_media",
                  "load_detector", "parse_weights", "probe_media", "probe_streams", "stream_media", "track_names"}


def test_package_api_names_import_no_heavy_library():
    """``import featurizer`` and its public names (PEP 562, imported on first use) load no model
    library; listing the registry neither; nor zarr until a store is opened; the media and face
    names load the decoders (PyAV, OpenCV) and nothing more."""
    code = ("import sys, featurizer\n"
            f"light = [n for n in featurizer.__all__ if n not in {DECODING_NAMES!r} and n != 'FeatureStore']\n"
            "names = [getattr(featurizer, n) for n in light]\n"
            "assert featurizer.list_models() and set(featurizer.__all__) <= set(dir(featurizer))\n"
            f"print(','.join(m for m in {HEAVY + ('zarr',)!r} if m in sys.modules))\n"
            "names = [getattr(featurizer, n) for n in featurizer.__all__ if n != 'FeatureStore']\n"
            f"print(','.join(m for m in {HEAVY + ('zarr',)!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    light, decoding = out.stdout.split("\n")[:2]
    assert light == "", f"featurizer's API pulled in {light}"
    assert set(decoding.split(",")) - {""} <= {"av", "cv2"}, f"featurizer's media names pulled in {decoding}"


def test_exprnet_and_its_commands_import_no_heavy_library():
    """``import exprnet`` and the CLI (``exprnet --help``) load no torch nor extraction stack: each
    command imports what it runs."""
    code = ("import sys, exprnet, exprnet.cli\n"
            f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"exprnet's CLI pulled in {out.stdout.strip()}"


def _imports(f: Path) -> list[tuple[str, str | None]]:
    """(module, name) of every absolute import in ``f`` (name None for ``import module``)."""
    out: list[tuple[str, str | None]] = []
    for node in ast.walk(ast.parse(f.read_text())):
        if isinstance(node, ast.Import):
            out += [(a.name, None) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out += [(node.module, a.name) for a in node.names]
    return out


# the deployment layer (bundles on videos, infer, serve) is the one part of exprnet that composes
# featurizer's extraction and HTTP app, and it does so through these public names only
DEPLOY = ("exprnet/deploy/", "exprnet/cli/deploy.py", "exprnet/cli/live.py")
DEPLOY_NAMES = {
    "featurizer": {
        "Collected", "CroppedAlignedFaces", "DetectedFaces", "FaceSource", "FaceTracker", "FeatureStore", "FeaturizerError",
        "MediaError", "ModelCache", "NoProgress", "Progress", "RichProgress", "check_detect_every",
        "create_extractor", "describe_model",
        "encode_video",
        "extract", "find_media", "load_detector", "missing_extras", "parse_weights", "probe_streams", "stream_media",
        "track_names",
    },
    "featurizer.service": {"ApiKeyMiddleware", "CLIP_ERRORS", "Clip", "ClipWork", "Settings", "Upload", "create_app"},
}


def test_exprnet_imports_featurizer_only_through_its_core_and_pinned_public_names():
    bad, deploy_uses = [], {m: set() for m in DEPLOY_NAMES}
    for f in (ROOT / "packages/exprnet/src").rglob("*.py"):
        rel = f.relative_to(ROOT / "packages/exprnet/src").as_posix()
        for module, name in _imports(f):
            if module.split(".")[0] != "featurizer" or module.startswith("featurizer.core"):
                continue
            if rel.startswith(DEPLOY) and module in DEPLOY_NAMES and name in DEPLOY_NAMES[module]:
                deploy_uses[module].add(name)
            else:
                bad.append(f"{rel}: {module}{'.' + name if name else ''}")
    assert not bad, f"exprnet imports featurizer outside its core and the pinned public names: {bad}"
    assert deploy_uses == DEPLOY_NAMES, "the pinned list names what deploy uses, no more"
    import featurizer
    import featurizer.service

    assert DEPLOY_NAMES["featurizer"] <= set(featurizer.__all__)
    assert DEPLOY_NAMES["featurizer.service"] <= set(featurizer.service.__all__)


def test_featurizer_never_imports_exprnet():
    bad = [f"{f.name}: {m}" for f in (ROOT / "packages/featurizer/src").rglob("*.py") for m, _ in _imports(f)
           if m.split(".")[0] == "exprnet"]
    assert not bad, bad


def test_installing_exprnet_does_not_pull_the_extractor_stack():
    feat = tomllib.loads((ROOT / "packages/featurizer/pyproject.toml").read_text())["project"]
    expr = tomllib.loads((ROOT / "packages/exprnet/pyproject.toml").read_text())["project"]
    (dep,) = [d for d in expr["dependencies"] if d.split("[")[0].split(">")[0].split("=")[0] == "featurizer"]
    assert "[" not in dep, f"exprnet asks for featurizer extras: {dep}"
    base = {d.split("[")[0].split(">")[0].split("=")[0].split("<")[0].strip().lower() for d in feat["dependencies"]}
    assert not base & {h.lower() for h in HEAVY} | base & {"opencv-python-headless", "opensmile"}, base
    assert {"numpy", "zarr"} <= base
