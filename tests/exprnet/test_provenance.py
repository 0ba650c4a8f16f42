"""Runs record how their features were made; predict and ensemble refuse other features; the
ensemble's prediction cache never serves stale predictions."""

import json
import shutil

import numpy as np
import pytest
from exprnet.cli import app
from exprnet.errors import DataError, RunError
from exprnet.prediction.predict import predict
from exprnet.training import experiment
from exprnet.training.runfolder import RunFolder
from featurizer.core.identity import describe_identity
from featurizer.core.store import FeatureStore
from typer.testing import CliRunner

from .conftest import config_for
from .synth import open_store, write_feature

runner = CliRunner()
OTHER_WEIGHTS = {"weights_sha256": "ab" * 32, "weights_kind": "imagenet-standin"}


def reweigh(store_path, feature="vis", provenance=OTHER_WEIGHTS):
    """Rewrite ``feature`` of every track as if another model's weights had made it."""
    z = open_store(store_path)
    for t in z.tracks():
        f = z.read_feature(t, feature)
        write_feature(z, t, feature, f.values.astype(np.float32), f.present, f.attrs.get("modality", "visual"),
                      provenance=provenance)


@pytest.fixture(scope="module")
def run(small, tmp_path_factory):
    out = tmp_path_factory.mktemp("prov") / "run"
    experiment.train(config_for(small, train={"epochs": 1}), out)
    return out


def test_run_records_each_features_identity(small, run):
    rec = RunFolder(run).read_features()
    z = FeatureStore(small.store, mode="r")
    t = sorted(small.tracks)[0]
    assert list(rec) == ["vis", "aud"]
    for f in rec:
        assert rec[f]["identity"] == z.feature(t, f).identity and rec[f]["dim"] == small.features[f]
    assert rec["aud"]["modality"] == "audio" and rec["vis"]["identity"]["extractor"] == "vis"


def test_predict_refuses_other_weights_unless_allowed(small, run, tmp_path):
    other = tmp_path / "other.zarr"
    shutil.copytree(small.store, other)
    reweigh(other)
    tracks = sorted(t for t, s in small.tracks.items() if s == "Validation_Set")
    r = runner.invoke(app, ["predict", "--run", str(run), "--store", str(other), "--tracks", ",".join(tracks),
                            "--out", str(tmp_path / "p")])
    assert r.exit_code == 2, r.output
    line = next(ln for ln in r.output.splitlines() if ln.startswith("error:"))
    assert "feature 'vis'" in line and "sha256:abababababab" in line  # the store's provenance ...
    assert describe_identity(RunFolder(run).read_features()["vis"]["identity"]) in line  # ... and the run's
    assert "--allow-feature-mismatch" in line and not (tmp_path / "p").exists()
    r = runner.invoke(app, ["predict", "--run", str(run), "--store", str(other), "--tracks", ",".join(tracks),
                            "--out", str(tmp_path / "p"), "--allow-feature-mismatch"])
    assert r.exit_code == 0, r.output
    assert "warning:" in r.output and "feature 'vis'" in r.output
    assert (tmp_path / "p" / "submission.txt").exists()


def test_run_report_shows_each_features_provenance(tiny, tmp_path):
    reweigh(tiny.store)  # vis now says it was made with ImageNet weights standing in
    experiment.train(config_for(tiny, train={"epochs": 1}), tmp_path / "run")
    r = runner.invoke(app, ["report", str(tmp_path / "run")])
    assert r.exit_code == 0, r.output
    page = (tmp_path / "run" / "REPORT.md").read_text()
    assert "## Feature provenance" in page
    assert "| vis | visual | 24 | imagenet-standin | extractor=vis" in page and "sha256:abababababab" in page
    assert "| aud | audio | 12 | not recorded |" in page


def test_resume_refuses_a_store_made_differently(small, tmp_path):
    store = tmp_path / "s.zarr"
    shutil.copytree(small.store, store)
    cfg = config_for(small, train={"epochs": 1})
    cfg.data.store = str(store)
    experiment.train(cfg, tmp_path / "run")
    reweigh(store)
    with pytest.raises(DataError, match="vis.*made differently"):
        experiment.resume(tmp_path / "run", epochs=2)


def test_a_folder_holding_another_configuration_is_refused(small, tmp_path):
    cfg = config_for(small, train={"epochs": 1})
    out = tmp_path / "cv"
    experiment.execute(cfg, out / "a", existing="skip")
    again = experiment.execute(cfg, out / "a", existing="skip")
    assert again.status == "skipped (finished)" and again.result is None
    with pytest.raises(RunError, match=r"another configuration \(model.d_model"):
        experiment.execute(config_for(small, model={"d_model": 32}, train={"epochs": 1}), out / "a", existing="skip")


def test_missing_feature_names_the_extract_command(tiny):
    from exprnet.training.experiment import prepare

    t = sorted(tiny.tracks)[0]
    open_store(tiny.store).delete_feature(t, "aud")
    with pytest.raises(DataError) as e:
        prepare(config_for(tiny))
    msg = str(e.value)
    assert "'aud'" in msg and t in msg and "\n" not in msg
    assert f"featurizer extract VIDEOS --labels {tiny.labels} --model aud --out {tiny.store}" in msg


def _ensemble(args, out):
    r = runner.invoke(app, ["ensemble", *args, "--out", str(out)])
    assert r.exit_code == 0, r.output
    return r, json.loads((out / "metrics.json").read_text())


def test_ensemble_cache_is_keyed_by_checkpoint_store_and_tracks(small, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    experiment.train(config_for(small, train={"epochs": 1, "seed": 0}), a)
    experiment.train(config_for(small, "transformer", train={"epochs": 1}), b)
    common = ["--store", str(small.store), "--labels", str(small.labels), "--method", "vote"]
    r, m1 = _ensemble([str(a), str(b), *common], tmp_path / "e1")  # run folders as arguments
    assert "predicting" in r.output
    caches = sorted(p.name for p in (a / "predictions").iterdir())
    assert len(caches) == 2  # the best and the last checkpoint
    sel = m1["selection"]
    assert m1["select"] == "best" and m1["val_f1"] == sel["best"]["val_f1"] and 0 <= sel["last"]["val_f1"] <= 1
    r = runner.invoke(app, ["report", str(tmp_path / "e1")])
    page = (tmp_path / "e1" / "REPORT.md").read_text()
    assert r.exit_code == 0 and "## Checkpoint selection" in page and "| vis | visual | 24 |" in page
    assert f"| best epoch (used) | {sel['best']['val_f1']:.4f} |" in page and f"| last epoch | {sel['last']['val_f1']:.4f} |" in page
    r, m2 = _ensemble(["--runs", f"{a},{b}", *common], tmp_path / "e2")
    assert "predicting" not in r.output and m2["val_f1"] == m1["val_f1"]  # served from the cache
    assert sorted(p.name for p in (a / "predictions").iterdir()) == caches

    # retrain run a in the same folder (another seed), its prediction cache left in place
    kept = tmp_path / "kept"
    shutil.move(a / "predictions", kept)
    shutil.rmtree(a)
    experiment.train(config_for(small, train={"epochs": 1, "seed": 5}), a)
    shutil.move(kept, a / "predictions")
    r, m3 = _ensemble([str(a), str(b), *common], tmp_path / "e3")
    assert f"{a.name}: predicting" in r.output and f"{b.name}: predicting" not in r.output
    fresh = predict(a, str(small.store), sorted(t for t, s in small.tracks.items() if s == "Validation_Set"),
                    tmp_path / "fresh", labels_dir=str(small.labels), smooth="none")  # members: unsmoothed
    assert m3["members"][0]["val_f1"] == pytest.approx(fresh["f1"])
    experiment.resume(a, epochs=2)  # continuing the run changes its checkpoints too
    r, _ = _ensemble([str(a), str(b), *common], tmp_path / "e5")
    assert f"{a.name}: predicting" in r.output

    # the same features in another store: not served from the first store's cache
    other = tmp_path / "copy.zarr"
    shutil.copytree(small.store, other)
    r, _ = _ensemble([str(a), str(b), "--store", str(other), "--labels", str(small.labels)], tmp_path / "e4")
    assert f"{a.name}: predicting" in r.output and f"{b.name}: predicting" in r.output
