"""Bundles on a synthetic store: written, loaded, equal to the ensemble they were made from, and
refused, on one line naming the file, when anything in them was altered."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from exprnet.cli import app
from exprnet.deploy.bundle import FORMAT_VERSION, Bundle
from exprnet.deploy.make import make_bundle
from exprnet.errors import BundleError, ConfigError
from exprnet.prediction.predict import read_submission
from exprnet.training import experiment
from typer.testing import CliRunner

from .conftest import config_for


@pytest.fixture(scope="module")
def runs(small, tmp_path_factory):
    root = tmp_path_factory.mktemp("bundle-runs")
    experiment.train(config_for(small, "lstm", train={"epochs": 1}), root / "lstm")
    r = CliRunner().invoke(app, ["baseline", "--store", str(small.store), "--labels", str(small.labels),
                                 "--features", ",".join(small.features), "--out", str(root / "baseline")])
    assert r.exit_code == 0, r.output
    return root


@pytest.fixture(scope="module")
def made(small, runs, tmp_path_factory):
    ens = tmp_path_factory.mktemp("ens")
    r = CliRunner().invoke(app, ["ensemble", str(runs / "lstm"), str(runs / "baseline"), "--method", "mean",
                                 "--smooth", "viterbi:auto", "--store", str(small.store), "--labels", str(small.labels),
                                 "--out", str(ens), "--tracks", ",".join(sorted(small.tracks)), "--device", "cpu",
                                 "--bundle", str(ens / "bundle")])
    assert r.exit_code == 0, r.output
    return ens


def test_bundle_predicts_what_the_ensemble_wrote(small, made, tmp_path):
    moved = tmp_path / "elsewhere"
    shutil.move(made / "bundle", moved)
    b = Bundle.load(moved)
    assert [m.name for m in b.members] == ["lstm", "baseline"] and b.combiner.method == "mean"
    assert [p.to_dict()["kind"] for p in b.post] == ["viterbi"]  # decoded once, after the combination
    assert b.members[1].calibration is not None  # the baseline's out-of-fold temperature, before combining
    tracks = sorted(small.tracks)
    got = b.predict_store(str(small.store), tracks)
    sub = read_submission(made / "submission.txt")
    for t in tracks:
        ref = np.load(made / "probs" / f"{t}.npy")
        np.testing.assert_allclose(got[t].probs, ref, atol=1e-6)
        np.testing.assert_array_equal(got[t].labels, sub[t])  # the decoded path, not the posteriors' argmax
    shutil.move(moved, made / "bundle")


def test_make_bundle_equals_ensemble_bundle(small, runs, made, tmp_path):
    out = make_bundle([runs / "lstm", runs / "baseline"], "mean", str(small.store), str(small.labels),
                      tmp_path / "b", smooth="viterbi:auto", device="cpu")
    a, b = (json.loads((p / "bundle.json").read_text()) for p in (out, made / "bundle"))
    same = {k: v for k, v in a["files"].items() if k not in ("metrics.json", "MODEL_CARD.md")}  # name, test tracks
    assert len(same) >= 6 and same.items() <= b["files"].items()  # members, stats, recipe: byte for byte
    assert a["combination"] == b["combination"] and a["postprocess"] == b["postprocess"]


def _copy(made, tmp_path):
    dst = tmp_path / "b"
    shutil.copytree(made / "bundle", dst)
    return dst


def _refused(path, *words):
    with pytest.raises(BundleError) as e:
        Bundle.load(path)
    msg = str(e.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg, msg
    return msg


def test_an_altered_file_is_refused(made, tmp_path):
    b = _copy(made, tmp_path)
    f = sorted(b.glob("members/*/stats.safetensors"))[0]
    raw = bytearray(f.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    f.write_bytes(bytes(raw))
    _refused(b, str(f.relative_to(b)), "sha256")


def test_a_missing_file_is_refused(made, tmp_path):
    b = _copy(made, tmp_path)
    (b / "recipe.json").unlink()
    _refused(b, "recipe.json", "missing")


def test_an_unknown_format_version_is_refused(made, tmp_path):
    b = _copy(made, tmp_path)
    m = json.loads((b / "bundle.json").read_text())
    m["format_version"] = FORMAT_VERSION + 1
    (b / "bundle.json").write_text(json.dumps(m))
    _refused(b, "bundle.json", f"format_version {FORMAT_VERSION + 1}")


def test_an_edited_manifest_is_refused(made, tmp_path):
    b = _copy(made, tmp_path)
    m = json.loads((b / "bundle.json").read_text())
    m["combination"]["weights"] = [0.9, 0.1]
    (b / "bundle.json").write_text(json.dumps(m))
    _refused(b, "bundle.json", "altered")


def test_a_member_whose_width_disagrees_with_the_recipe_is_refused(made, tmp_path):
    """A recipe edited (and re-hashed, as a careless rebuild would) to another feature width."""
    from exprnet.deploy.bundle import bundle_id, sha256_bytes

    b = _copy(made, tmp_path)
    recipe = json.loads((b / "recipe.json").read_text())
    feat = recipe["features"][0]
    feat["attrs"]["dim"] += 3
    (b / "recipe.json").write_text(json.dumps(recipe))
    m = json.loads((b / "bundle.json").read_text())
    m["files"]["recipe.json"] = sha256_bytes((b / "recipe.json").read_bytes())
    m["id"] = bundle_id(m)
    (b / "bundle.json").write_text(json.dumps(m))
    _refused(b, feat["name"], str(feat["attrs"]["dim"]))


def test_not_a_bundle(tmp_path):
    _refused(tmp_path, "not a bundle", "exprnet bundle")


def test_weights_whose_sha256_differs_from_the_recipe_are_refused(made):
    from exprnet.deploy.recipe import FeatureRecipe, Recipe

    r = Recipe((FeatureRecipe("hubert", {"extractor": "hubert", "modality": "audio", "dim": 16,
                                         "weights_id": "/models/hubert", "weights_kind": "user",
                                         "weights_sha256": "a" * 64}),))

    class Loaded:
        name = "hubert"

        def provenance(self):
            return {"extractor": "hubert", "weights_id": "/elsewhere/hubert", "weights_sha256": "b" * 64,
                    "weights_kind": "user", "dim": 16}

    with pytest.raises(ConfigError) as e:
        r.check_extractor(Loaded(), {"hubert": "/elsewhere/hubert"})
    msg = str(e.value)
    assert "/elsewhere/hubert" in msg and "aaaaaaaaaaaa" in msg and "bbbbbbbbbbbb" in msg and "\n" not in msg


def test_a_dropped_feature_is_fed_as_whole_feature_dropout_fed_it(small, runs):
    """Standardised, the absent feature is zero (its training mean) and flagged absent; the others
    are untouched."""
    from exprnet.data.bank import load_bank
    from exprnet.deploy.members import dropped
    from exprnet.prediction.predict import load_run
    from featurizer.core.store import FeatureStore

    lr = load_run(runs / "lstm")
    tracks = sorted(small.tracks)[:2]
    bank = load_bank(FeatureStore(small.store, mode="r"), lr.cfg.data.features, tracks, None, "error")
    out = dropped(bank, lr.stats, {tracks[0]: {"aud"}})
    j = out.features.index("aud")
    cols = slice(sum(out.dims[:j]), sum(out.dims[:j + 1]))
    rows, other = out.rows(0), out.rows(1)
    raw = out.values[rows, cols].astype(np.float64) / out.scale[cols] + out.offset[cols]
    np.testing.assert_allclose((raw - lr.stats.mean[cols]) / lr.stats.std[cols], 0, atol=2e-3)
    assert not out.present[rows, j].any()
    np.testing.assert_array_equal(out.present[rows, 1 - j], bank.present[rows, 1 - j])
    np.testing.assert_array_equal(out.values[other], bank.values[other])
