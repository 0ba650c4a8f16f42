"""emotieff-b0/mbf, mae-face, dinov2 and clip from files in their published formats: loading
through ``--weights``, rows equal to the model called directly (their own preprocessing), one
row per label frame in the store."""

from __future__ import annotations

import numpy as np
import pytest
from featurizer import create_extractor, extract
from featurizer.errors import WeightsError
from featurizer.models.weights import file_sha256, local_weights

from .conftest_deep import *  # noqa: F403
from .conftest_deep import assert_store
from .conftest_public import *  # noqa: F403
from .conftest_public import EmotiEffNet


def _crops(demo, n=4):
    import cv2

    files = sorted((demo / "cropped_aligned" / "101-25-320x240").glob("*.jpg"))[:n]
    return np.stack([cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB) for f in files])


def _close(got, want, tol=2e-2):
    """Equal up to the 8-bit resize (PIL / OpenCV / torch round differently): relative to scale."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape
    assert np.abs(got - want).max() <= tol * (np.abs(want).max() + 1e-12), np.abs(got - want).max()


def _emotieff_reference(model, crops, size, mean, std, features: bool):
    """EmotiEffLib's ONNX-path preprocessing (cv2.resize, /255, mean/std) and the model itself."""
    import cv2
    import torch

    x = np.stack([cv2.resize(c, (size, size)) / 255.0 for c in crops])
    x = ((x - np.array(mean)) / np.array(std)).transpose(0, 3, 1, 2).astype(np.float32)
    with torch.inference_mode():
        t = torch.from_numpy(x)
        if not features:
            return model(t).numpy()
        if hasattr(model, "backbone"):
            return model.backbone(t).numpy()
        return model.forward_head(model.forward_features(t), pre_logits=True).numpy()


IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


def test_emotieff_b0_onnx_state_dict_and_pickle_agree_with_the_model(demo, emotieff_files):
    crops = _crops(demo)
    model = EmotiEffNet.b0()
    want = _emotieff_reference(model, crops, 224, *IMAGENET, features=True)
    want_scores = _emotieff_reference(model, crops, 224, *IMAGENET, features=False)
    assert np.abs(want).mean() > 1e-3  # a non-trivial embedding
    onnx = create_extractor("emotieff-b0", weights=str(emotieff_files["b0.onnx"]))
    sd = create_extractor("emotieff-b0", weights=str(emotieff_files["b0.pth"]))
    pk = create_extractor("emotieff-b0", weights=str(emotieff_files["b0.pt"]), allow_pickle=True)
    for ex in (onnx, sd, pk):
        assert ex.dim == 1280 and ex.pre.size == 224
        _close(ex.extract_faces(crops), want)
    assert onnx.provenance()["runtime"] == "onnxruntime"
    for src in ("b0.onnx", "b0.pth"):
        ex = create_extractor("emotieff-b0:scores", weights=str(emotieff_files[src]))
        assert ex.dim == 10 and ex.name == "emotieff-b0:scores"
        assert ex.provenance()["columns"][-2:] == ["valence", "arousal"]
        assert ex.provenance()["columns"][:2] == ["Anger", "Contempt"]
        _close(ex.extract_faces(crops), want_scores)


@pytest.mark.parametrize("release", ["0.9.7", "0.6"])
def test_emotieff_pickle_of_an_older_timm_gives_the_models_rows(demo, emotieff_files, release):
    """Their ``.pt`` as older timm releases wrote it (fewer attributes; pre-0.9 module paths, which
    today's timm cannot import) unpickles onto today's classes and gives the model's own rows."""
    import torch

    p = emotieff_files[f"b0.pt-{release}"]
    found = torch.serialization.get_unsafe_globals_in_checkpoint(str(p))
    assert ("timm.models.efficientnet_blocks.InvertedResidual" in found) is (release == "0.6")
    crops = _crops(demo, 2)
    ex = create_extractor("emotieff-b0:scores", weights=str(p), allow_pickle=True)
    _close(ex.extract_faces(crops), _emotieff_reference(EmotiEffNet.b0(), crops, 224, *IMAGENET, features=False))


def test_emotieff_pickles_need_allow_pickle(emotieff_files):
    with pytest.raises(WeightsError) as e:
        create_extractor("emotieff-b0", weights=str(emotieff_files["b0.pt"]))
    msg = str(e.value)
    assert "timm.models.efficientnet.EfficientNet" in msg and "runs code" in msg and "\n" not in msg
    assert "allow_pickle" in msg and "state_dict()" in msg  # how to convert it once


def test_emotieff_mbf_onnx_and_state_dict(demo, emotieff_files):
    crops = _crops(demo)
    model = EmotiEffNet.mbf()
    want = _emotieff_reference(model, crops, 112, (0.5,) * 3, (0.5,) * 3, features=True)
    for src in ("mbf.onnx", "mbf.pth"):
        ex = create_extractor("emotieff-mbf", weights=str(emotieff_files[src]), precision="fp32")
        assert ex.dim == 512 and ex.pre.size == 112
        _close(ex.extract_faces(crops), want, tol=1e-3)  # no resize at 112: same input exactly
        scores = create_extractor("emotieff-mbf:scores", weights=str(emotieff_files[src]), precision="fp32").extract_faces(crops)
        _close(scores, _emotieff_reference(model, crops, 112, (0.5,) * 3, (0.5,) * 3, features=False), tol=1e-3)


@pytest.mark.parametrize("src, size, mean, std", [("mbf.onnx", 112, (0.5,) * 3, (0.5,) * 3),
                                                   ("b0.onnx", 224, *IMAGENET)])
def test_emotieff_onnx_scores_equal_onnxruntimes_own_run(demo, emotieff_files, src, size, mean, std):
    """The ONNX graph run by onnxruntime directly (EmotiEffLib's ONNX path: cv2.resize, /255,
    mean/std, session.run on ``input``) against the extractor's ``:scores`` rows."""
    import cv2
    import onnxruntime as ort

    crops = _crops(demo, 3)
    x = np.stack([cv2.resize(c, (size, size)) / 255.0 if size != 112 else c / 255.0 for c in crops])
    x = ((x - np.array(mean)) / np.array(std)).transpose(0, 3, 1, 2).astype(np.float32)
    sess = ort.InferenceSession(str(emotieff_files[src]), providers=["CPUExecutionProvider"])
    (want,) = sess.run(None, {"input": x})
    name = "emotieff-mbf:scores" if src.startswith("mbf") else "emotieff-b0:scores"
    got = create_extractor(name, weights=str(emotieff_files[src])).extract_faces(crops)
    _close(got, want, tol=1e-4 if size == 112 else 2e-2)  # 224: the 8-bit resize differs by library


def test_mobilefacenet_pickle_unpickles_onto_the_project_classes(emotieff_files, tmp_path, monkeypatch):
    """Their ``mbf_va_mtl.pt`` pickles ``mobilefacenet.MobileFaceNet`` (a module on their path)."""
    import torch
    from featurizer.models.extractors import _mobilefacenet_arch as arch

    model = EmotiEffNet.mbf()
    whole = arch.MobileFaceNet()
    whole.load_state_dict(model.backbone.state_dict())
    whole.fc = model.fc
    for cls in (arch.MobileFaceNet, arch.ConvBlock, arch.LinearBlock, arch.DepthWise, arch.Residual,
                arch.GDC, arch.Flatten):
        monkeypatch.setattr(cls, "__module__", "mobilefacenet")
    import sys
    import types

    fake = types.ModuleType("mobilefacenet")
    fake.__dict__.update({c.__name__: c for c in (arch.MobileFaceNet, arch.ConvBlock, arch.LinearBlock,
                                                  arch.DepthWise, arch.Residual, arch.GDC, arch.Flatten)})
    monkeypatch.setitem(sys.modules, "mobilefacenet", fake)
    p = tmp_path / "mbf_va_mtl.pt"
    torch.save(whole, p)
    monkeypatch.undo()  # no ``mobilefacenet`` module any more, as on a user's machine
    assert "mobilefacenet" not in sys.modules
    ex = create_extractor("emotieff-mbf:scores", weights=str(p), allow_pickle=True)
    ref = create_extractor("emotieff-mbf:scores", weights=str(emotieff_files["mbf.pth"]))
    crops = np.random.default_rng(0).integers(0, 255, (2, 112, 112, 3), dtype=np.uint8)
    np.testing.assert_allclose(ex.extract_faces(crops), ref.extract_faces(crops), rtol=1e-5, atol=1e-6)


def test_emotieff_onnx_errors(emotieff_files, tmp_path):
    import timm

    from .conftest_public import export_onnx

    with pytest.raises(WeightsError, match="precision they were exported in"):
        create_extractor("emotieff-b0", weights=str(emotieff_files["b0.onnx"]), precision="bf16")
    headless = export_onnx(timm.create_model("tf_efficientnet_b0", num_classes=0).eval(), tmp_path / "x.onnx", 224)
    with pytest.raises(WeightsError, match="does not end in one classifier"):
        create_extractor("emotieff-b0", weights=str(headless))


def _mae_face_reference(path, crops, global_pool: bool):
    """MAE-Face's ``models_vit.VisionTransformer.forward_features`` written out (patches, cls, pos,
    blocks; then ``norm`` and the class token, or the patch mean through ``fc_norm``, which a
    pretrained checkpoint lacks: built fresh, as their model builds it) on MAE's eval transform."""
    import torch
    import torch.nn.functional as F
    from timm.models.vision_transformer import VisionTransformer

    from .conftest_public import MAE_TINY, read_mae_model

    sd = read_mae_model(path)
    enc = VisionTransformer(**MAE_TINY, num_classes=0)
    enc.load_state_dict({k: v for k, v in sd.items() if not k.startswith(("decoder", "mask_token", "fc_norm"))},
                        strict=False)
    enc.eval()
    fc_norm = torch.nn.LayerNorm(MAE_TINY["embed_dim"], eps=1e-6)
    if "fc_norm.weight" in sd:
        fc_norm.load_state_dict({"weight": sd["fc_norm.weight"], "bias": sd["fc_norm.bias"]})
    x = F.interpolate(torch.from_numpy(crops).permute(0, 3, 1, 2), size=(224, 224), mode="bicubic",
                      align_corners=False).float() / 255
    x = (x - torch.tensor(IMAGENET[0]).view(1, 3, 1, 1)) / torch.tensor(IMAGENET[1]).view(1, 3, 1, 1)
    with torch.inference_mode():
        t = enc.patch_embed(x)
        t = torch.cat([enc.cls_token.expand(len(t), -1, -1), t], dim=1) + enc.pos_embed
        for blk in enc.blocks:
            t = blk(t)
        return (fc_norm(t[:, 1:].mean(1)) if global_pool else enc.norm(t)[:, 0]).numpy()


def test_mae_face_training_checkpoint_loads_safely_and_pools_both_ways(demo, mae_face_file, monkeypatch):
    """The release is MAE's training checkpoint (``args`` an argparse.Namespace, which a plain
    ``weights_only`` load refuses): it loads without unpickling code; ``cls`` by default (their
    example's choice for features of the pretrained model), ``mean`` on request (their
    ``global_pool=True``), both recorded."""
    import pickle

    import torch

    crops = _crops(demo, 3)
    with pytest.raises(pickle.UnpicklingError, match="argparse.Namespace"):
        torch.load(mae_face_file, weights_only=True)  # why the release did not load before
    real_load = torch.load

    def no_general_unpickle(*a, **kw):
        assert kw.get("weights_only") is True, kw
        return real_load(*a, **kw)

    monkeypatch.setattr(torch, "load", no_general_unpickle)
    ex = create_extractor("mae-face", weights=str(mae_face_file), precision="fp32")
    assert ex.dim == 64 and ex.layer == "class token, norm" and ex.pre.interpolation == "bicubic"
    assert ex.provenance()["pool"] == "cls"
    _close(ex.extract_faces(crops), _mae_face_reference(mae_face_file, crops, global_pool=False), tol=1e-4)
    mean = create_extractor("mae-face", weights=str(mae_face_file), pool="mean", precision="fp32")
    assert mean.provenance()["pool"] == "mean" and mean.layer.startswith("mean patch token, fc_norm (fresh")
    _close(mean.extract_faces(crops), _mae_face_reference(mae_face_file, crops, global_pool=True), tol=1e-4)


def test_mae_face_fine_tuned_checkpoint_pools_patches_through_fc_norm(demo, mae_face_file, tmp_path):
    import torch

    from .conftest_public import mae_args, read_mae_model

    sd = read_mae_model(mae_face_file)
    sd = {k: v for k, v in sd.items() if not k.startswith(("decoder", "mask_token", "norm."))}
    sd["fc_norm.weight"], sd["fc_norm.bias"] = torch.full((64,), 2.0), torch.full((64,), 0.1)
    sd["head.weight"], sd["head.bias"] = torch.zeros(12, 64), torch.zeros(12)  # a task head: dropped
    p = tmp_path / "finetuned.pth"
    torch.save({"model": sd, "epoch": 29, "args": mae_args()}, p)  # main_finetune.py's checkpoint
    ex = create_extractor("mae-face", weights=str(p), precision="fp32")
    assert ex.layer == "mean patch token, fc_norm" and ex.provenance()["pool"] == "mean"
    crops = _crops(demo, 2)
    _close(ex.extract_faces(crops), _mae_face_reference(p, crops, global_pool=True), tol=1e-4)
    with pytest.raises(WeightsError, match=r"pool=cls needs the final norm.*--option mae-face\.pool=mean"):
        create_extractor("mae-face", weights=str(p), pool="cls", precision="fp32")


def test_mae_face_refuses_a_pickled_model_with_a_hint_that_works(mae_face_file, tmp_path):
    """A whole pickled model (their ``models_vit.VisionTransformer``) is refused, naming the class;
    mae-face takes no allow_pickle, and the one-line conversion it prints gives a loadable file."""
    import shlex

    import torch
    from timm.models.vision_transformer import VisionTransformer

    from .conftest_public import MAE_TINY, read_mae_model

    enc = VisionTransformer(**MAE_TINY, num_classes=0)
    enc.load_state_dict({k: v for k, v in read_mae_model(mae_face_file).items()
                         if not k.startswith(("decoder", "mask_token"))})
    p = tmp_path / "whole.pth"
    torch.save(enc, p)
    with pytest.raises(WeightsError) as e:
        create_extractor("mae-face", weights=str(p))
    msg = str(e.value)
    assert "timm.models.vision_transformer.VisionTransformer" in msg and "runs code" in msg
    assert "allow_pickle" not in msg and "\n" not in msg
    cmd = shlex.split(msg[msg.index("python -c"):msg.rindex(")")])
    assert cmd[:2] == ["python", "-c"] and len(cmd) == 3
    exec(cmd[2], {})  # the one-liner, run as python -c would (this process trusts the file)
    ex = create_extractor("mae-face", weights=str(tmp_path / "whole.state_dict.pth"))
    ref = create_extractor("mae-face", weights=str(mae_face_file))
    crops = np.random.default_rng(0).integers(0, 255, (2, 112, 112, 3), dtype=np.uint8)
    np.testing.assert_allclose(ex.extract_faces(crops), ref.extract_faces(crops), rtol=1e-5, atol=1e-6)


def test_dinov2_equals_the_model_on_its_own_processor(demo, dinov2_dir):
    import torch
    import transformers
    from PIL import Image

    crops = _crops(demo, 3)
    proc = transformers.BitImageProcessor.from_pretrained(str(dinov2_dir))
    model = transformers.Dinov2Model.from_pretrained(str(dinov2_dir)).eval()
    with torch.inference_mode():
        out = model(**proc([Image.fromarray(c) for c in crops], return_tensors="pt"))
    ex = create_extractor("dinov2", weights=str(dinov2_dir))
    assert ex.dim == 32 and ex.pre.size == 56 and ex.pre.interpolation == "bicubic"
    _close(ex.extract_faces(crops), out.pooler_output.numpy(), tol=5e-2)
    _close(create_extractor("dinov2:mean", weights=str(dinov2_dir)).extract_faces(crops),
           out.last_hidden_state[:, 1:].mean(1).numpy(), tol=5e-2)


@pytest.mark.parametrize("folder", ["clip_dir", "clip_legacy_dir"])
def test_clip_image_embeds_from_a_whole_clip_checkpoint(demo, folder, request):
    """Today's model.safetensors and the 2022 pytorch_model.bin with persistent position_ids: the
    image tower's rows equal transformers' CLIPModel on its own processor."""
    import torch
    import transformers
    from PIL import Image

    clip_dir = request.getfixturevalue(folder)
    crops = _crops(demo, 3)
    proc = transformers.CLIPImageProcessor.from_pretrained(str(clip_dir))
    model = transformers.CLIPModel.from_pretrained(str(clip_dir)).eval()
    pixels = proc([Image.fromarray(c) for c in crops], return_tensors="pt")["pixel_values"]
    with torch.inference_mode():
        embeds = model.get_image_features(pixel_values=pixels)
        embeds = getattr(embeds, "pooler_output", embeds)
        pooled = model.vision_model(pixel_values=pixels).pooler_output
    ex = create_extractor("clip", weights=str(clip_dir))  # the text tower is there and not loaded
    assert ex.dim == 24 and ex.layer == "embeds"
    _close(ex.extract_faces(crops), embeds.numpy(), tol=5e-2)
    pex = create_extractor("clip:pooled", weights=str(clip_dir))
    assert pex.dim == 32
    _close(pex.extract_faces(crops), pooled.numpy(), tol=5e-2)


def test_public_visual_models_end_to_end(demo, emotieff_files, mae_face_file, dinov2_dir, clip_dir, tmp_path):
    out = str(tmp_path / "s.zarr")
    weights = {"emotieff-b0": str(emotieff_files["b0.onnx"]), "emotieff-mbf": str(emotieff_files["mbf.pth"]),
               "mae-face": str(mae_face_file), "dinov2": str(dinov2_dir), "clip": str(clip_dir)}
    rep = extract([demo / "videos"], "emotieff-b0,emotieff-mbf:scores,mae-face,dinov2,clip", out,
                  labels=demo / "annotations", faces=demo / "cropped_aligned", weights=weights, precision="fp32")
    assert rep.ok, [r.error for r in rep.failed]
    for model, dim, src in (("emotieff-b0", 1280, emotieff_files["b0.onnx"]),
                            ("emotieff-mbf:scores", 10, emotieff_files["mbf.pth"]),
                            ("mae-face", 64, mae_face_file)):
        a = assert_store(out, demo, model, dim, file_sha256(src))["video3_left"]
        assert a["weights_kind"] == "user" and a["precision"] == "fp32"
    for model, dim, d in (("dinov2", 32, dinov2_dir), ("clip", 24, clip_dir)):
        assert_store(out, demo, model, dim, local_weights(model, str(d), d).sha256)
