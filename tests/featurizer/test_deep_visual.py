"""ires100, fau, densenet, mae and mobilenet end to end on aligned crops, with tiny models saved
in their real formats and loaded through the CLI's ``--weights NAME=SOURCE`` and ``extract``."""

from __future__ import annotations

import numpy as np
import pytest
from featurizer import create_extractor, extract
from featurizer.cli import app
from featurizer.core.store import FeatureStore
from featurizer.errors import WeightsError
from featurizer.models.weights import file_sha256, local_weights
from typer.testing import CliRunner

from .conftest_deep import *  # noqa: F403
from .conftest_deep import assert_store, label_rows


def _crops(demo, track="101-25-320x240", n=5):
    import cv2

    files = sorted((demo / "cropped_aligned" / track).glob("*.jpg"))[:n]
    return np.stack([cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB) for f in files])


def test_ires100_and_fau_through_the_cli(demo, iresnet_pth, tmp_path):
    out = str(tmp_path / "s.zarr")
    res = CliRunner().invoke(app, [
        "extract", str(demo / "videos"), "--model", "ires100,fau", "--out", out,
        "--labels", str(demo / "annotations"), "--faces", str(demo / "cropped_aligned"),
        "--weights", f"ires100={iresnet_pth}", "--weights", f"fau={iresnet_pth}"])
    assert res.exit_code == 0, res.output
    sha = file_sha256(iresnet_pth)
    for m in ("ires100", "fau"):
        attrs = assert_store(out, demo, m, 16, sha)
        a = attrs["video3_left"]
        assert a["weights_id"] == str(iresnet_pth) and a["layer"] == "features"
        assert a["timing"] == {"kind": "per_frame"}
        assert a["architecture"].startswith("iresnet1-2-1-1")
    # crops missing from cropped_aligned take the nearest crop and are not present
    s = FeatureStore(out, mode="r")
    for track, n in label_rows(demo).items():
        have = {int(p.stem) - 1 for p in (demo / "cropped_aligned" / track).glob("*.jpg")}
        f = s.read_feature(track, "ires100")
        np.testing.assert_array_equal(np.flatnonzero(f.present), sorted(i for i in have if i < n))


def test_iresnet_output_is_the_arcface_recipe(demo, iresnet_pth):
    """(x/255 - 0.5)/0.5 at 112x112 RGB through the checkpoint's IResNet, BN folded: same numbers."""
    import torch
    from featurizer.models.extractors._iresnet_arch import build

    from .conftest_deep import tiny_iresnet_config

    crops = _crops(demo)
    ex = create_extractor("ires100", weights=str(iresnet_pth), precision="fp32")
    got = ex.extract_faces(crops)
    model = build(tiny_iresnet_config()).eval()
    sd = torch.load(iresnet_pth, weights_only=True)
    model.load_state_dict({k[len("module."):]: v for k, v in sd.items() if not k.startswith("module.head")})
    x = torch.from_numpy(crops).permute(0, 3, 1, 2).float().div(255).sub(0.5).div(0.5)
    with torch.inference_mode():
        ref = model(x).numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-3, atol=1e-3)


def test_insightface_backbone_gives_their_iresnets_rows(demo, insightface_pth):
    """A backbone.pth of insightface's own IResNet class loads key for key and gives its forward
    (eval mode) on arcface_torch's inference preprocessing, with the project's folded blocks."""
    import torch

    from .conftest_deep import insightface_iresnet

    model = insightface_iresnet().eval()
    model.load_state_dict(torch.load(insightface_pth, weights_only=True))
    crops = _crops(demo)
    x = torch.from_numpy(crops).permute(0, 3, 1, 2).float().div(255).sub(0.5).div(0.5)
    with torch.inference_mode():
        ref = model(x).numpy()
    with pytest.warns(UserWarning, match="not iresnet100"):  # a tiny depth, loaded and named
        ex = create_extractor("ires100", weights=str(insightface_pth), precision="fp32")
    assert ex.dim == 16 and ex.architecture.startswith("iresnet1-2-1-1")
    got = ex.extract_faces(crops)
    assert np.abs(ref).mean() > 1e-2
    np.testing.assert_allclose(got, ref, rtol=1e-3, atol=1e-3 * np.abs(ref).max())


@pytest.mark.parametrize("name", ["densenet", "mae", "mobilenet"])
def test_timm_models_from_hub_style_folders(name, demo, timm_dirs, tmp_path):
    import json

    import timm
    import torch
    from safetensors.torch import load_file

    folder = timm_dirs[name]
    out = str(tmp_path / "s.zarr")
    rep = extract([demo / "videos"], name, out, labels=demo / "annotations",
                  faces=demo / "cropped_aligned", weights={name: str(folder)}, precision="fp32")
    assert rep.ok, [r.error for r in rep.failed]
    ex = create_extractor(name, weights=str(folder), precision="fp32")
    sha = local_weights(name, str(folder), folder).sha256
    attrs = assert_store(out, demo, name, ex.dim, sha)
    a = attrs["101-25-320x240"]
    cfg = json.loads((folder / "config.json").read_text())
    pcfg = cfg["pretrained_cfg"]  # preprocessing follows the checkpoint's own config
    assert a["preprocess"] == {"size": pcfg["input_size"][-1], "mean": pytest.approx(pcfg["mean"]),
                               "std": pytest.approx(pcfg["std"]), "interpolation": pcfg["interpolation"]}
    # the extractor equals timm's model on that preprocessing of the resized crop
    crops = _crops(demo, n=3)
    args = {k: v for k, v in cfg["model_args"].items() if k != "num_classes"}
    model = timm.create_model(cfg["architecture"], pretrained=False, num_classes=0, **args)
    model.load_state_dict(load_file(str(folder / "model.safetensors")))
    model.eval()
    size = pcfg["input_size"][-1]
    x = torch.from_numpy(crops).permute(0, 3, 1, 2)  # resized as 8-bit images, as timm's transforms do
    x = torch.nn.functional.interpolate(x, size=(size, size), mode=pcfg["interpolation"], align_corners=False)
    x = (x.float() / 255 - torch.tensor(pcfg["mean"]).view(1, 3, 1, 1)) / torch.tensor(pcfg["std"]).view(1, 3, 1, 1)
    with torch.inference_mode():
        ref = model(x).numpy()
    np.testing.assert_allclose(ex.extract_faces(crops), ref, rtol=1e-3, atol=1e-3)


def test_native_input_size_variant(demo, timm_dirs):
    ex = create_extractor("densenet:112", weights=str(timm_dirs["densenet"]))
    assert ex.name == "densenet:112" and ex.pre.size == 112
    assert ex.extract_faces(_crops(demo, n=2)).shape == (2, ex.dim)


def test_strict_load_lists_the_mismatched_keys(iresnet_pth, tmp_path):
    import torch

    sd = torch.load(iresnet_pth, weights_only=True)
    sd["module.layer2.0.conv_one.weight"] = sd.pop("module.layer2.0.conv1.weight")
    sd["module.fc.weight"] = sd["module.fc.weight"][:, :-1]
    bad = tmp_path / "bad.pth"
    torch.save(sd, bad)
    with pytest.raises(WeightsError) as e:
        create_extractor("ires100", weights=str(bad))
    msg = str(e.value)
    assert "ires100 weights" in msg and str(bad) in msg
    assert "missing: layer2.0.conv1.weight" in msg
    assert "unexpected: layer2.0.conv_one.weight" in msg
    assert "fc.weight" in msg and "another shape" in msg
    assert "--weights ires100=PATH" in msg
    # the CLI reports it once, exit 2, naming the same
    res = CliRunner().invoke(app, ["extract", str(tmp_path), "--model", "ires100", "--weights",
                                   f"ires100={bad}", "--out", str(tmp_path / "x.zarr")])
    assert res.exit_code in (1, 2)


def test_timm_strict_load_and_wrong_family(timm_dirs, tmp_path):
    import shutil

    from safetensors.torch import load_file, save_file

    d = tmp_path / "dn"
    shutil.copytree(timm_dirs["densenet"], d)
    sd = load_file(str(d / "model.safetensors"))
    sd.pop(next(k for k in sd if k.endswith("conv0.weight")))
    save_file(sd, str(d / "model.safetensors"))
    with pytest.raises(WeightsError, match=r"missing: features\.conv0\.weight"):
        create_extractor("densenet", weights=str(d))
    with pytest.raises(WeightsError, match="not a densenet model"):
        create_extractor("densenet", weights=str(timm_dirs["mae"]))


def test_paper_densenet_342_is_densenet_bc_100_k12(demo, tmp_path):
    """The paper's 342-d DenseNet: a timm folder whose config gives growth 12, blocks (16, 16, 16)."""
    from .conftest_deep import save_timm_folder

    d = save_timm_folder(tmp_path / "dn342", "densenet121", growth_rate=12, block_config=(16, 16, 16))
    ex = create_extractor("densenet", weights=str(d))
    assert ex.dim == 342
    assert ex.extract_faces(_crops(demo, n=2)).shape == (2, 342)
