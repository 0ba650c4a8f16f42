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


def test_package_api_names_import_no_heavy_library():
    """``import featurizer`` and its public names (PEP 562, imported on first use) load no model
    library; listing the registry neither; nor zarr until a store is opened."""
    code = ("import sys, featurizer\n"
            "names = [getattr(featurizer, n) for n in featurizer.__all__ if n != 'FeatureStore']\n"
            "assert featurizer.list_models() and set(featurizer.__all__) <= set(dir(featurizer))\n"
            f"print(','.join(m for m in {HEAVY + ('zarr',)!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"featurizer's API pulled in {out.stdout.strip()}"


def test_exprnet_and_its_commands_import_no_heavy_library():
    """``import exprnet`` and the CLI (``exprnet --help``) load no torch nor extraction stack: each
    command imports what it runs."""
    code = ("import sys, exprnet, exprnet.cli\n"
            f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"exprnet's CLI pulled in {out.stdout.strip()}"


def _imports(f: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(f.read_text())):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    return names


# the deployment layer (bundles on videos, infer, serve) is the one part of exprnet that composes
# featurizer's extraction pipeline and HTTP app
DEPLOY = ("exprnet/deploy/", "exprnet/cli/deploy.py")


def test_exprnet_imports_only_featurizer_core_outside_its_deployment_layer():
    bad, deploy_uses = [], set()
    for f in (ROOT / "packages/exprnet/src").rglob("*.py"):
        rel = f.relative_to(ROOT / "packages/exprnet/src").as_posix()
        for n in _imports(f):
            if n.split(".")[0] == "featurizer" and not n.startswith("featurizer.core"):
                (deploy_uses.add(n) if rel.startswith(DEPLOY) else bad.append(f"{rel}: {n}"))
    assert not bad, bad
    assert "featurizer.pipeline" in deploy_uses  # infer goes through featurizer's one job path


def test_featurizer_never_imports_exprnet():
    bad = [f"{f.name}: {n}" for f in (ROOT / "packages/featurizer/src").rglob("*.py") for n in _imports(f)
           if n.split(".")[0] == "exprnet"]
    assert not bad, bad


def test_installing_exprnet_does_not_pull_the_extractor_stack():
    feat = tomllib.loads((ROOT / "packages/featurizer/pyproject.toml").read_text())["project"]
    expr = tomllib.loads((ROOT / "packages/exprnet/pyproject.toml").read_text())["project"]
    (dep,) = [d for d in expr["dependencies"] if d.split("[")[0].split(">")[0].split("=")[0] == "featurizer"]
    assert "[" not in dep, f"exprnet asks for featurizer extras: {dep}"
    base = {d.split("[")[0].split(">")[0].split("=")[0].split("<")[0].strip().lower() for d in feat["dependencies"]}
    assert not base & {h.lower() for h in HEAVY} | base & {"opencv-python-headless", "opensmile"}, base
    assert {"numpy", "zarr"} <= base
