"""The registry: typed options (an undeclared option is an error), honest metadata, fast listing."""

import subprocess
import sys

import featurizer
import numpy as np
import pytest
from featurizer import create_extractor, describe_model, list_models
from featurizer.errors import UnknownModelError

from .conftest_deep import *  # noqa: F403


def test_listing_imports_no_model_library():
    code = ("import sys; from featurizer.models.registry import specs; rows = [s.row() for s in specs()]; "
            "n = len(rows); "
            "heavy = ('torch', 'cv2', 'av', 'opensmile', 'transformers', 'timm', 'speechbrain', 'torchvggish', 'onnx', 'onnxruntime');"
            "print(n, [m for m in heavy if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    n, loaded = out.split(" ", 1)
    assert int(n) >= 22 and loaded.strip() == "[]", out


def test_undeclared_option_is_an_error_naming_what_it_takes():
    with pytest.raises(UnknownModelError, match="egemaps takes no option 'batch_size'.*no options"):
        create_extractor("egemaps", batch_size=4)
    with pytest.raises(UnknownModelError, match="hubert takes no option 'dropout'.*weights, device, batch_size"):
        create_extractor("hubert", dropout=0.1)
    with pytest.raises(UnknownModelError, match="'x'.*not a valid int"):
        describe_model("hubert").option("batch_size").parse("x", "hubert")


def test_common_flags_go_where_they_are_taken(tmp_path):
    # --batch-size with only weight-free models is taken by none of them: an error, not swallowed
    # (raised before any input is read: the video need not exist)
    with pytest.raises(UnknownModelError, match="--batch-size 8: none of egemaps, fbank takes it"):
        featurizer.extract(tmp_path / "none.mp4", "egemaps,fbank", tmp_path / "s.zarr", batch_size=8)
    with pytest.raises(UnknownModelError, match="--weights hubert=...: hubert is not among the selected"):
        featurizer.extract(tmp_path / "none.mp4", "egemaps", tmp_path / "s.zarr", weights={"hubert": "/x"})
    assert [create_extractor(n, device="cpu").name for n in ("egemaps", "hog")] == ["egemaps", "hog"]


def test_metadata_marks_stand_ins_and_what_weights_were_trained_on():
    rows = {s.name: s.row() for s in map(describe_model, list_models())}
    for name in ("densenet", "mae", "mobilenet"):
        assert rows[name]["trained_on"] == "imagenet" and rows[name]["standin"] is True
        assert rows[name]["paper_weights_public"] is False
    for name in ("egemaps", "compare", "fbank"):
        assert rows[name]["trained_on"] is None and rows[name]["paper_weights_public"] is True
    assert rows["hog"]["paper_weights_public"] is None  # not one of the paper's features
    assert rows["hubert"]["trained_on"] == "speech"
    assert {"name", "modality", "dim", "default_weights", "trained_on", "licence",
            "paper_weights_public", "weights_present"} <= set(rows["hubert"])
    new = {"emotieff-b0": ("affect", 1280), "emotieff-b2": ("affect", 1408), "emotieff-mbf": ("affect", 512),
           "mae-face": ("faces", 768), "dinov2": ("images", 1024), "clip": ("images", 768),
           "wav2vec2-emotion": ("affect", 1024), "wav2vec2-emotion-adv": ("affect", 3),
           "whisper": ("speech", 1280)}
    for name, (trained, dim) in new.items():
        r = rows[name]
        assert (r["trained_on"], r["dim"], r["standin"], r["paper_weights_public"]) == (trained, dim, False, None)
        assert r["licence"] != "n/a" and r["weights_kind"] in ("public", "user"), name
    assert rows["mae-face"]["default_weights"] is None and "MAE-Face" in rows["mae-face"]["weights"]
    assert rows["ires100"]["default_weights"] is None and rows["ires100"]["weights_kind"] == "user"
    assert rows["mae"]["weights_kind"] == "imagenet-standin" and rows["ecapatdnn"]["weights_kind"] == "public-standin"
    assert rows["hog"]["weights_kind"] == "none" and rows["hog"]["weights_present"] is None


def _cache_hub_repo(cache, repo, folder):
    """``folder`` as the hub cache holds a snapshot of ``repo`` (refs/main -> snapshots/<commit>)."""
    import shutil

    base = cache / f"models--{repo.replace('/', '--')}"
    commit = "0123456789abcdef0123456789abcdef01234567"
    (base / "refs").mkdir(parents=True)
    (base / "refs" / "main").write_text(commit)
    shutil.copytree(folder, base / "snapshots" / commit)


def test_weights_present_reads_the_caches_without_network(tmp_path, monkeypatch, timm_dirs):
    import huggingface_hub.constants as hc
    from featurizer.models.weights import is_present

    monkeypatch.setattr(hc, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    rows = {s.name: s.row() for s in map(describe_model, list_models())}
    assert rows["mae"]["weights_present"] is False and rows["vggish"]["weights_present"] is False
    _cache_hub_repo(tmp_path / "hub", "timm/vit_base_patch16_224.mae", timm_dirs["mae"])
    ckpt = tmp_path / "torch" / "hub" / "checkpoints"
    ckpt.mkdir(parents=True)
    (ckpt / "vggish-10086976.pth").write_bytes(b"x")
    rows = {s.name: s.row() for s in map(describe_model, list_models())}
    assert rows["mae"]["weights_present"] is True and rows["vggish"]["weights_present"] is True
    assert rows["densenet"]["weights_present"] is False
    assert is_present(str(timm_dirs["mae"])) and not is_present(str(tmp_path / "nope.pth"))
    assert is_present("timm/vit_base_patch16_224.mae/model.safetensors")
    assert not is_present("timm/vit_base_patch16_224.mae/other.bin") and not is_present(None)


def test_imagenet_standin_warns_once_and_is_recorded(tmp_path, monkeypatch, timm_dirs, demo):
    """``mae`` with its default (ImageNet) weights, from the hub cache, offline."""
    import warnings

    import huggingface_hub.constants as hc
    from featurizer import extract
    from featurizer.core.store import FeatureStore
    from featurizer.progress import NoProgress

    monkeypatch.setattr(hc, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    _cache_hub_repo(tmp_path / "hub", "timm/vit_base_patch16_224.mae", timm_dirs["mae"])
    ex = create_extractor("mae")
    assert ex.weights_kind == "imagenet-standin" and ex.provenance()["weights_kind"] == "imagenet-standin"
    crops = np.random.default_rng(0).integers(0, 255, (2, 112, 112, 3), dtype=np.uint8)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ex.extract_faces(crops)
        ex.extract_faces(crops)
    msgs = [str(w.message) for w in caught]
    assert len(msgs) == 1 and "mae runs ImageNet weights (timm/vit_base_patch16_224.mae)" in msgs[0]
    assert "imagenet-standin" in msgs[0] and "\n" not in msgs[0]
    assert create_extractor("mae", weights=str(timm_dirs["mae"])).weights_kind == "user"
    assert create_extractor("mae", weights="random").weights_kind == "random"

    class Warnings(NoProgress):
        def __init__(self):
            self.messages = []

        def warn(self, message):
            self.messages.append(message)

    prog = Warnings()
    out = str(tmp_path / "s.zarr")
    rep = extract([demo / "videos"], "mae,hog", out, labels=demo / "annotations",
                  faces=demo / "cropped_aligned", progress=prog)
    assert rep.ok
    assert sum("stand" in m for m in prog.messages) == 1  # once for the run, not per video or batch
    s = FeatureStore(out, mode="r")
    for track in s.tracks():
        assert s.read_feature(track, "mae").attrs["weights_kind"] == "imagenet-standin"
        assert s.read_feature(track, "hog").attrs["weights_kind"] == "none"


def test_models_command_marks_stand_ins_and_says_what_is_here():
    import json

    from featurizer.cli import app
    from typer.testing import CliRunner

    r = CliRunner(env={"COLUMNS": "250"}).invoke(app, ["models"])
    assert r.exit_code == 0, r.output
    line = next(ln for ln in r.output.splitlines() if ln.strip("│ ").startswith("mae "))
    assert "imagenet (stand-in)" in line and "timm/vit_base_patch16_224.mae" in line
    assert "stand-ins run public weights in place of the paper's" in r.output
    rows = json.loads(CliRunner().invoke(app, ["models", "--json"]).output)
    keys = {"name", "modality", "dim", "default_weights", "trained_on", "licence", "paper_weights_public",
            "weights_present", "weights_kind", "standin"}
    assert all(keys <= set(row) for row in rows)
    by = {row["name"]: row for row in rows}
    assert by["emotieff-mbf"]["default_weights"].endswith("/onnx/mbf_va_mtl.onnx")
    assert by["whisper"]["weights_present"] in (True, False) and by["fbank"]["weights_present"] is None
