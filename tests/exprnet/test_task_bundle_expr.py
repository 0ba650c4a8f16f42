"""A multi-task bundle's EXPR goes through the run's own calibration and decoder, on the EXPR slice.

Oracle: ``exprnet predict`` on the run folder (:func:`exprnet.prediction.tasks.predict_tasks`,
which applies what the run fitted after training), on the same tracks; live's Person with a lag
longer than the track decodes the whole track at once, so it gives the offline rows."""

from __future__ import annotations

import json

import numpy as np
import pytest
from exprnet.deploy.bundle import Bundle
from exprnet.deploy.live.person import Person
from exprnet.deploy.make_tasks import make_task_bundle
from exprnet.prediction.tasks import predict_tasks
from exprnet.training import experiment
from exprnet.training.runfolder import RunFolder
from featurizer.core.store import FeatureStore

from .conftest import config_for
from .test_tasks_oof import task_corpus

SMOOTH = {"kind": "viterbi", "weight": "auto", "calibrate": "temperature", "folds": 2}


@pytest.fixture(scope="module")
def tc(tmp_path_factory):
    return task_corpus(tmp_path_factory.mktemp("tbx"), 7, 4)


@pytest.fixture(scope="module")
def made(tc, tmp_path_factory):
    root = tmp_path_factory.mktemp("tbxr")
    labels = [str(tc.labels), str(tc.va_dir), str(tc.au_dir)]
    cfg = config_for(tc, "lstm", data={"labels": labels, "normalize": "train"}, train={"epochs": 2}, smooth=SMOOTH)
    experiment.train(cfg, root / "run")
    path = make_task_bundle([root / "run"], str(tc.store), labels, root / "B", device="cpu")
    return root / "run", path, labels


def test_the_bundle_keeps_the_runs_calibration_and_decoder(made):
    run, path, _ = made
    m = json.loads((path / "bundle.json").read_text())
    assert [p["kind"] for p in m["postprocess"]] == ["viterbi"]
    cal = json.loads((run / "calibration.json").read_text())
    assert m["members"][0]["calibration"]["kind"] == "calibration"
    assert m["members"][0]["calibration"]["temperature"] == pytest.approx(cal["temperature"])
    card = (path / "MODEL_CARD.md").read_text()
    assert "EXPR: " in card and "viterbi" in card.lower()


def test_bundle_predictions_equal_the_runs_own(made, tc, tmp_path):
    run, path, labels = made
    val = RunFolder(run).read_tracks()["val"]
    want = predict_tasks(run, str(tc.store), val, tmp_path / "pred", device="cpu", labels=labels)
    got = Bundle.load(path).predict_outputs(str(tc.store), list(val))
    for t in val:  # EXPR: the decoder's posteriors; VA after its smoothing; AU after its per-AU smoothing
        np.testing.assert_allclose(got[t].expr.probs, np.load(tmp_path / "pred" / "probs" / f"{t}.npy"), atol=1e-5)
        np.testing.assert_allclose(got[t].va, np.load(tmp_path / "pred" / "va" / f"{t}.npy"), atol=1e-5)
        np.testing.assert_allclose(got[t].au_probs, np.load(tmp_path / "pred" / "au" / f"{t}.npy"), atol=1e-5)
    metrics = json.loads((path / "metrics.json").read_text())
    assert metrics["val_f1"] == pytest.approx(want["f1"], abs=1e-9)  # the bundle scores what predict scores


def test_live_decodes_the_expr_slice_as_offline(made, tc):
    """A lag past the track's end: the fixed-lag decoder sees the whole track, as offline."""
    _, path, _ = made
    b = Bundle.load(path)
    val = RunFolder(made[0]).read_tracks()["val"][0]
    want = b.predict_outputs(str(tc.store), [val])[val]
    s = FeatureStore(str(tc.store), mode="r")
    feats = {f: s.read_feature(val, f) for f in b.members[0].features}
    n = len(want.expr.labels)
    p = Person("p", b, {f: "visual" for f in feats}, set(), lag=10 * n)
    rows = [{"features": {f: x.values[i] for f, x in feats.items()}, "present": {f: bool(x.present[i]) for f, x in
                                                                               feats.items()}, "meta": i}
            for i in range(n)]
    out = p.push(rows[: n // 2]) + p.push(rows[n // 2:], closed=True)
    assert [o[0] for o in out] == list(range(n))
    assert np.array([o[2] for o in out]).tolist() == want.expr.labels.tolist()
    q = np.stack([o[1] for o in out])
    np.testing.assert_allclose(q[:, :8], want.expr.probs, atol=1e-4)
    np.testing.assert_allclose(q[:, 8:10], want.va, atol=1e-4)
