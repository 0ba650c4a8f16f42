"""The whole chain through the CLIs, on real media the tests encode: video -> `featurizer extract`
(weight-free models plus a tiny HuBERT saved in its real format) -> `exprnet train` ->
`exprnet predict` -> `exprnet ensemble` -> `exprnet report`; and the HTTP endpoint, given the
same clip, returns exactly the rows `featurizer extract` stored for it."""

from __future__ import annotations

import io
import json

import numpy as np
from exprnet.cli import app as exprnet_app
from featurizer.core.classes import HEADER
from featurizer.core.store import FeatureStore

from .conftest import LINES, MODELS, ok


def test_extract_stores_one_row_per_label_line_and_finds_the_faces(corpus, store):
    s = FeatureStore(store, mode="r")
    assert s.tracks() == sorted(LINES)
    for track, lab in corpus.labels_of.items():
        assert s.n_frames(track) == len(lab)
        assert set(s.models(track)) == set(MODELS.split(","))
        hog = s.read_feature(track, "hog")
        assert hog.present.mean() > 0.9, f"{track}: the face was found in {hog.present.mean():.0%} of frames"
        hub = s.read_feature(track, "hubert")
        assert hub.present.all() and len(hub.attrs["weights_sha256"]) == 64
        assert hub.attrs["weights_id"] == str(corpus.hubert)
        assert np.abs(s.read_feature(track, "egemaps").values.astype(np.float64)).sum() > 0  # speech, not silence


def test_http_returns_the_rows_extract_stored(corpus, store):
    from fastapi.testclient import TestClient
    from featurizer.service import Settings, create_app

    track = "clip4"
    app = create_app(Settings(models=MODELS.split(","), weights={"hubert": str(corpus.hubert)}))
    with TestClient(app) as client:
        r = client.post("/v1/features", headers={"Accept": "application/x-npz"},
                        data={"models": MODELS, "track": track,
                              "annotation": (corpus.labels / "Validation_Set" / f"{track}.txt").read_text()},
                        files={"file": (f"{track}.mp4", (corpus.videos / f"{track}.mp4").read_bytes())})
    assert r.status_code == 200, r.text
    with np.load(io.BytesIO(r.content), allow_pickle=False) as z:
        got = {k: z[k] for k in z.files}
    s = FeatureStore(store, mode="r")
    np.testing.assert_array_equal(got["timestamps"], s.timestamps(track))
    for m in MODELS.split(","):
        ref = s.read_feature(track, m)
        np.testing.assert_array_equal(got[f"{m}/values"], ref.values)  # exactly the stored rows
        np.testing.assert_array_equal(got[f"{m}/present"], ref.present)
    assert json.loads(str(got["meta"]))["track"]["frames"] == len(corpus.labels_of[track])


def test_train_predict_ensemble_report(corpus, store, tmp_path):
    runs = tmp_path / "runs"
    small = ["--d-model", "32", "--hidden", "32", "--segment", "16", "--set", "model.head=[32]",
             "--epochs", "2", "--device", "cpu"]
    for enc in ("lstm", "transformer"):
        out = ok(exprnet_app, "train", "--store", store, "--labels", corpus.labels, "--features", MODELS,
                 "--encoder", enc, "--out", runs / enc, *small, *(["--no-baseline"] if enc == "transformer" else []))
        assert "run folder" in out
        assert ("baseline" in out) == (enc == "lstm")  # the baseline's F1 beside the model's
        metrics = json.loads((runs / enc / "metrics.json").read_text())
        assert metrics["finished"] and 0.0 <= metrics["best_val_f1"] <= 1.0
        assert set(json.loads((runs / enc / "features.json").read_text())) == set(MODELS.split(","))

    # predict: the ABAW submission for the validation track, every frame, labels 0-7
    ok(exprnet_app, "predict", "--run", runs / "lstm", "--store", store, "--tracks",
       corpus.labels / "Validation_Set", "--out", tmp_path / "pred", "--labels", corpus.labels)
    lines = (tmp_path / "pred" / "submission.txt").read_text().splitlines()
    assert lines[0] == "image_location," + HEADER
    n = len(corpus.labels_of["clip4"])
    assert lines[1:] == [f"clip4/{i:05d}.jpg,{lines[i].split(',')[1]}" for i in range(1, n + 1)]
    assert {int(ln.split(",")[1]) for ln in lines[1:]} <= set(range(8))
    probs = np.load(tmp_path / "pred" / "probs" / "clip4.npy")
    assert probs.shape == (n, 8) and np.allclose(probs.sum(1), 1, atol=1e-5)

    # the built-in baseline: a run folder like the others
    ok(exprnet_app, "baseline", "--store", store, "--labels", corpus.labels, "--features", MODELS,
       "--smooth", "box:4", "--out", runs / "baseline")

    # ensemble (run folders as arguments) and its report
    ens = tmp_path / "ens"
    ok(exprnet_app, "ensemble", runs / "lstm", runs / "transformer", runs / "baseline", "--method", "vote",
       "--store", store, "--labels", corpus.labels, "--out", ens, "--tracks", corpus.labels / "Validation_Set",
       "--device", "cpu")
    m = json.loads((ens / "metrics.json").read_text())
    assert [x["name"] for x in m["members"]] == ["lstm", "transformer", "baseline"] and 0 <= m["val_f1"] <= 1
    assert m["members"][2]["encoder"] == "baseline-logreg"
    assert len((ens / "submission.txt").read_text().splitlines()) == n + 1
    ok(exprnet_app, "report", ens)
    report = (ens / "REPORT.md").read_text()
    for word in ("lstm", "transformer", "baseline-logreg", "vote", "hubert"):
        assert word in report
    assert (ens / "confusion.png").stat().st_size > 0
