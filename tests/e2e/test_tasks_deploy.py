"""The three ABAW tasks through deployment, from the demo corpus's videos: `featurizer demo-data`
(EXPR, VA_Set, AU_Set) -> `featurizer extract` -> a multi-task `exprnet train` -> `exprnet bundle`
-> `exprnet infer --labels` x3 on the held-out video -> `/v1/expressions`. Checks each task's
columns and fields, that the bundle's VA smoothing and AU thresholds are the run's, what the
fitters choose on the run's training predictions and labels (never validation's), and that infer's scores are
exprnet.tasks' metrics on what the CSV holds. Tiny settings (audio features: no face detection)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from exprnet.cli import app as exprnet_app
from exprnet.deploy.outputs import read_csv
from exprnet.reports.metrics import confusion, per_class_f1
from exprnet.tasks.metrics import au_scores, va_scores
from exprnet.tasks.post import fit_au_post, fit_va_post
from featurizer.cli import app as featurizer_app
from featurizer.core.annotations import read_labels
from featurizer.core.classes import AU_NAMES, EXPR_CLASSES, VA_NAMES

from .conftest import ok, runner

FEATURES = "fbank"
TINY = ["--features", FEATURES, "--encoder", "lstm", "--d-model", "16", "--hidden", "16", "--segment", "16",
        "--set", "model.head=[16]", "--epochs", "2", "--device", "cpu", "--no-baseline"]
HEADER = ["frame", "time", "expression", "face", *EXPR_CLASSES, *VA_NAMES, *[f"{a}_prob" for a in AU_NAMES],
          *AU_NAMES]


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("demo36")
    ok(featurizer_app, "demo-data", d / "data", "--videos", "4", "--seconds", "3")
    ok(featurizer_app, "extract", d / "data" / "videos", "--labels", d / "data" / "annotations", "--model", FEATURES,
       "--out", d / "features.zarr")
    return d


def _labels(root: Path) -> list[str]:
    return ["--labels", root / "annotations", "--labels", root / "VA_Set", "--labels", root / "AU_Set"]


@pytest.fixture(scope="module")
def bundle(demo: Path) -> Path:
    data = demo / "data"
    ok(exprnet_app, "train", "--store", demo / "features.zarr", *_labels(data), *TINY, "--out", demo / "run")
    out = ok(exprnet_app, "bundle", demo / "run", "--store", demo / "features.zarr", *_labels(data),
             "--out", demo / "bundle", "--device", "cpu")
    assert "tasks EXPR, VA, AU" in out and "VA CCC" in out and "AU F1" in out
    return demo / "bundle"


@pytest.fixture(scope="module")
def inferred(bundle: Path, demo: Path) -> Path:
    held = demo / "data" / "heldout"
    ok(exprnet_app, "infer", held / "videos", "--bundle", bundle, "--out", demo / "infer", *_labels(held))
    return demo / "infer"


def test_bundle_holds_every_task_fitted_on_training_tracks_only(bundle: Path, demo: Path):
    manifest = json.loads((bundle / "bundle.json").read_text())
    assert manifest["format_version"] == 2 and manifest["tasks"] == ["expr", "va", "au"]
    assert manifest["members"][0]["tasks"] == ["expr", "va", "au"]
    post = manifest["task_post"]
    # the bundle takes the run's own, fitted after training (smooth.folds 0 here: in-sample)
    run = demo / "run"
    rec = json.loads((run / "task_post.json").read_text())
    assert rec["source"].startswith("in-sample") and post == {"va": rec["va"], "au": rec["au"]}
    # the independent path: the run's own raw predictions on its training tracks (exprnet predict
    # without its post-processing), the training labels, the fitters: exactly what they choose
    from exprnet.prediction.tasks import predict_tasks

    train = json.loads((run / "tracks.json").read_text())["train"]
    predict_tasks(run, str(demo / "features.zarr"), train, demo / "pred-train", device="cpu", raw=True)
    for task, folder, fit in (("va", "VA_Set", fit_va_post), ("au", "AU_Set", fit_au_post)):
        files = {p.stem: p for p in (demo / "data" / folder / "Train_Set").glob("*.txt")}
        have = [t for t in train if t in files]
        assert have, task
        chosen = fit([np.load(demo / "pred-train" / task / f"{t}.npy") for t in have],
                     [read_labels(files[t]).values for t in have]).to_dict()
        if task == "va":
            assert post["va"]["width"] == chosen["width"]
        else:
            assert post["au"]["widths"] == chosen["widths"]
            np.testing.assert_allclose(post["au"]["thresholds"], chosen["thresholds"])
    metrics = json.loads((bundle / "metrics.json").read_text())
    for k in ("val_f1", "val_va", "val_ccc_valence", "val_ccc_arousal", "val_au_f1", *[f"val_f1_{a}" for a in AU_NAMES]):
        assert isinstance(metrics[k], float), k
    card = (bundle / "MODEL_CARD.md").read_text()
    assert "## Valence-arousal on the validation split" in card and "## Action units on the validation split" in card
    assert f"| {metrics['val_va']:.4f} | {metrics['val_ccc_valence']:.4f} |" in card
    assert f"**{metrics['val_au_f1']:.4f}**" in card


def test_infer_writes_every_task_and_scores_what_the_csv_holds(inferred: Path, bundle: Path, demo: Path):
    path = inferred / "heldout-1.csv"
    assert path.read_text().splitlines()[0].split(",") == HEADER
    got = read_csv(path)
    va = np.stack([got[c] for c in VA_NAMES], 1)
    probs = np.stack([got[f"{a}_prob"] for a in AU_NAMES], 1)
    au = np.stack([got[a] for a in AU_NAMES], 1)
    assert np.abs(va).max() <= 1 and set(np.unique(au)) <= {0, 1}
    thr = np.array(json.loads((bundle / "bundle.json").read_text())["task_post"]["au"]["thresholds"])
    np.testing.assert_array_equal(au, (probs >= thr).astype(int))  # 0/1 after each AU's threshold
    held = demo / "data" / "heldout"
    scores = json.loads((inferred / "scores.json").read_text())
    assert scores["tasks"] == ["expr", "va", "au"]
    y_va = read_labels(held / "VA_Set" / "heldout-1.txt").values
    y_au = read_labels(held / "AU_Set" / "heldout-1.txt").values
    y_ex = read_labels(held / "annotations" / "heldout-1.txt").values
    assert len(y_va) == len(y_au) == len(y_ex) == len(va)
    want_va, want_au = va_scores(va, y_va), au_scores(au, y_au)
    for k, v in {**want_va, **want_au}.items():
        assert scores[k] == pytest.approx(v, abs=1e-6), k  # the CSV's 7 significant digits
    pred = np.array([EXPR_CLASSES.index(e) for e in got["expression"]])
    assert scores["f1"] == pytest.approx(float(per_class_f1(confusion(y_ex, pred)).mean()), abs=1e-12)
    assert scores["va_labelled_frames"] == int((~np.isnan(y_va).any(axis=1)).sum())
    sub = (inferred / "submission_au.txt").read_text().splitlines()
    assert sub[0] == "image_location," + ",".join(AU_NAMES)
    assert sub[1] == "heldout-1/00001.jpg," + ",".join(str(int(v)) for v in au[0])
    assert (inferred / "submission_va.txt").is_file() and (inferred / "submission.txt").is_file()
    assert (inferred / "heldout-1.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_http_answers_every_task_as_infer_wrote(bundle: Path, inferred: Path, demo: Path):
    from exprnet.deploy.serve import create_expressions_app
    from fastapi.testclient import TestClient

    data = (demo / "data" / "heldout" / "videos" / "heldout-1.mp4").read_bytes()
    with TestClient(create_expressions_app(bundle, None, "cpu")) as client:
        r = client.post("/v1/expressions", files={"file": ("heldout-1.mp4", data)})
        csv = client.post("/v1/expressions?format=csv", files={"file": ("heldout-1.mp4", data)})
    assert r.status_code == 200, r.text
    assert csv.status_code == 200 and csv.text == (inferred / "heldout-1.csv").read_text()
    doc = r.json()
    assert doc["tasks"] == ["expr", "va", "au"] and doc["action_units"] == list(AU_NAMES)
    assert doc["au_thresholds"] == json.loads((bundle / "bundle.json").read_text())["task_post"]["au"]["thresholds"]
    (track,) = doc["tracks"]
    ref = read_csv(inferred / "heldout-1.csv")
    np.testing.assert_allclose(track["valence"], ref["valence"], atol=1e-6)
    np.testing.assert_allclose(track["arousal"], ref["arousal"], atol=1e-6)
    np.testing.assert_allclose(track["au_probabilities"], np.stack([ref[f"{a}_prob"] for a in AU_NAMES], 1), atol=1e-6)
    assert track["au"] == np.stack([ref[a] for a in AU_NAMES], 1).tolist()
    assert track["expression"] == list(ref["expression"])


def _smoothed(bundle: Path, out: Path) -> Path:
    """The bundle with wider VA/AU smoothing (gauss VA, box AU of several widths): the live window's test."""
    import shutil

    from exprnet.deploy.bundle import bundle_id

    shutil.copytree(bundle, out)
    m = json.loads((out / "bundle.json").read_text())
    m["task_post"]["va"].update(kind="gauss", width=3)
    m["task_post"]["au"].update(kind="box", widths=[k % 4 for k in range(len(AU_NAMES))])
    m["id"] = bundle_id(m)
    (out / "bundle.json").write_text(json.dumps(m))
    return out


@pytest.fixture(scope="module")
def causal_bundle(demo: Path) -> Path:
    """A multi-task LSTM normalised with the training moments: every live row is decided causally
    (``track`` normalisation would use the moments so far, see docs/live.md)."""
    data = demo / "data"
    ok(exprnet_app, "train", "--store", demo / "features.zarr", *_labels(data), *TINY, "--set",
       "data.normalize=train", "--out", demo / "run-train-norm")
    ok(exprnet_app, "bundle", demo / "run-train-norm", "--store", demo / "features.zarr", *_labels(data),
       "--out", demo / "bundle-train-norm", "--device", "cpu")
    return demo / "bundle-train-norm"


def _same_tasks(rows: dict, want, thresholds: np.ndarray, atol: float) -> None:
    """Live rows (columns) equal to an offline TrackPrediction in every task's columns."""
    assert list(rows["frame"]) == want.frames.tolist() and list(rows["expression"]) == want.expression
    np.testing.assert_allclose(np.stack([rows[c] for c in EXPR_CLASSES], 1), want.probabilities, atol=atol)
    np.testing.assert_allclose(np.stack([rows[c] for c in VA_NAMES], 1), want.va, atol=atol)
    np.testing.assert_allclose(np.stack([rows[f"{a}_prob"] for a in AU_NAMES], 1), want.au_probs, atol=atol)
    on = np.stack([rows[a] for a in AU_NAMES], 1)
    near = np.abs(want.au_probs - thresholds) < atol  # a threshold tie: either side
    assert (on == want.au)[~near].all()


def test_live_rows_carry_va_and_au_equal_to_infer(causal_bundle: Path, demo: Path, tmp_path: Path):
    """A causal (LSTM) multi-task member through the live engine: VA and AU (after the bundle's
    smoothing, within the declared lookahead, and thresholds) equal infer's, as EXPR does."""
    from exprnet.deploy.bundle import Bundle
    from exprnet.deploy.infer import Inferencer
    from exprnet.deploy.live import LiveEngine
    from featurizer import stream_media

    video = demo / "data" / "heldout" / "videos" / "heldout-1.mp4"
    b = Bundle.load(causal_bundle)
    (want,) = b.predict(video)
    # exprnet live's CSV: infer's columns for the bundle's tasks (+ latency, dropped), the same values
    ok(exprnet_app, "live", "--bundle", causal_bundle, "--source", video, "--out", tmp_path / "live")
    text = (tmp_path / "live" / "heldout-1.csv").read_text().splitlines()
    assert text[0].split(",") == [*HEADER, "latency_ms", "dropped"]
    _same_tasks(read_csv(tmp_path / "live" / "heldout-1.csv"), want, b.task_post.au.thresholds, 1e-5)
    # wider smoothing: the engine declares it in its lookahead and still equals the offline rows
    b2 = Bundle.load(_smoothed(causal_bundle, tmp_path / "B"))
    (want2,) = b2.predict(video)
    assert np.abs(want2.va - want.va).max() > 1e-3  # the wider smoothing shows
    with stream_media(video) as s:
        fps = s.fps
        eng = LiveEngine(Inferencer(b2), fps=fps, max_pending=8, name="h")
        assert eng.ready()["tasks"] == ["expr", "va", "au"]
        assert eng.ready()["lookahead_s"] == pytest.approx(round(4 / fps + eng.audio.lookahead_s, 4))  # 3 VA/AU, 1 edge
        rows = []
        for kind, t, x in s:
            rows += eng.push_frame(t, x, block=True) if kind == "frame" else eng.push_audio(t, x, 16_000)
    rows += eng.close()
    _same_tasks({k: np.array([r[k] for r in rows]) for k in rows[0]}, want2, b2.task_post.au.thresholds, 1e-5)


def test_a_va_only_run_bundles_and_infers_without_expression_columns(demo: Path, tmp_path: Path):
    data = demo / "data"
    ok(exprnet_app, "train", "--store", demo / "features.zarr", "--labels", data / "VA_Set", *TINY,
       "--out", tmp_path / "run")
    ok(exprnet_app, "bundle", tmp_path / "run", "--store", demo / "features.zarr", "--labels", data / "VA_Set",
       "--out", tmp_path / "bundle", "--device", "cpu")
    assert json.loads((tmp_path / "bundle" / "bundle.json").read_text())["tasks"] == ["va"]
    held = data / "heldout"
    r = runner.invoke(
        exprnet_app, [str(a) for a in ("infer", held / "videos", "--bundle", tmp_path / "bundle", "--out",
                                       tmp_path / "infer", "--labels", held / "AU_Set")])
    assert r.exit_code != 0 and "does not predict AU" in r.output  # a task the bundle lacks: one clear line
    ok(exprnet_app, "infer", held / "videos", "--bundle", tmp_path / "bundle", "--out", tmp_path / "infer",
       "--labels", held / "VA_Set")
    got = tmp_path / "infer" / "heldout-1.csv"
    assert got.read_text().splitlines()[0] == "frame,time,face,valence,arousal"
    assert not (tmp_path / "infer" / "submission.txt").exists() and (tmp_path / "infer" / "submission_va.txt").exists()
    t = read_csv(got)
    scores = json.loads((tmp_path / "infer" / "scores.json").read_text())
    y = read_labels(held / "VA_Set" / "heldout-1.txt").values
    assert scores["va"] == pytest.approx(va_scores(np.stack([t["valence"], t["arousal"]], 1), y)["va"], abs=1e-6)
    ok(exprnet_app, "live", "--bundle", tmp_path / "bundle", "--source", held / "videos" / "heldout-1.mp4",
       "--out", tmp_path / "live")  # live: the same columns, the same values
    lv = tmp_path / "live" / "heldout-1.csv"
    assert lv.read_text().splitlines()[0] == "frame,time,face,valence,arousal,latency_ms,dropped"
    assert list(read_csv(lv)["frame"]) == list(t["frame"])
    for c in VA_NAMES:  # data.normalize: track, live with the moments so far: close, not equal (docs/live.md)
        assert np.abs(read_csv(lv)[c] - t[c]).max() < 0.1, c


def test_a_bundle_whose_tasks_disagree_with_its_format_or_heads_is_refused(bundle: Path, tmp_path: Path):
    import shutil

    from exprnet.deploy.bundle import Bundle, bundle_id
    from exprnet.errors import BundleError

    for edit, said in (({"format_version": 1}, "lists tasks"), ({"tasks": ["expr", "va", "pose"]}, "lists tasks"),
                       ({"tasks": ["expr", "va"]}, "does not fit the member's network")):
        b = tmp_path / f"b{len(list(tmp_path.iterdir()))}"
        shutil.copytree(bundle, b)
        m = json.loads((b / "bundle.json").read_text())
        m.update(edit)
        if "tasks" in edit and said != "lists tasks":
            m["members"][0]["tasks"] = edit["tasks"]
        m["id"] = bundle_id(m)  # whoever edits the manifest can recompute its id
        (b / "bundle.json").write_text(json.dumps(m))
        with pytest.raises(BundleError, match=said) as e:
            Bundle.load(b)
        assert "\n" not in str(e.value)


def test_a_bundle_of_two_multitask_runs_is_their_ensemble(bundle: Path, demo: Path, tmp_path: Path):
    """`exprnet bundle RUN1 RUN2` of multi-task runs: the ensemble `exprnet ensemble` fits (its VA
    weights, VA smoothing and AU thresholds, its validation outputs), and infer's every task column."""
    from exprnet.deploy.bundle import Bundle

    data = demo / "data"
    ok(exprnet_app, "train", "--store", demo / "features.zarr", *_labels(data), *TINY, "--seed", "1",
       "--out", tmp_path / "run2")
    runs = [demo / "run", tmp_path / "run2"]
    out = ok(exprnet_app, "bundle", *runs, "--store", demo / "features.zarr", *_labels(data), "--out",
             tmp_path / "b2", "--device", "cpu")
    assert "2 member(s), tasks EXPR, VA, AU" in out
    ok(exprnet_app, "ensemble", *runs, "--store", demo / "features.zarr", *_labels(data), "--out", tmp_path / "ens",
       "--device", "cpu", "--bundle", tmp_path / "b-ens")
    same = json.loads((tmp_path / "b-ens" / "bundle.json").read_text())["files"]  # `ensemble --bundle`: the same
    assert {k: v for k, v in same.items() if k.startswith("members/")} == {
        k: v for k, v in json.loads((tmp_path / "b2" / "bundle.json").read_text())["files"].items()
        if k.startswith("members/")}
    ens = json.loads((tmp_path / "ens" / "metrics.json").read_text())
    manifest = json.loads((tmp_path / "b2" / "bundle.json").read_text())
    assert manifest["tasks"] == ["expr", "va", "au"] and [m["tasks"] for m in manifest["members"]] == [
        ["expr", "va", "au"]] * 2
    tp = manifest["task_post"]
    assert tp["va"] == ens["task_post"]["va"] and tp["au"] == ens["task_post"]["au"]
    assert tp["va_weights"] == ens["task_post"]["va_weights"]
    for k in ("val_f1", "val_va", "val_au_f1"):
        assert manifest["validation"][k] == pytest.approx(ens[k], abs=1e-12), k
    assert json.loads((tmp_path / "b-ens" / "bundle.json").read_text())["task_post"] == tp
    b = Bundle.load(tmp_path / "b2")
    val = json.loads((demo / "run" / "tracks.json").read_text())["val"]
    got = b.predict_outputs(str(demo / "features.zarr"), list(val))
    for t in val:
        np.testing.assert_allclose(got[t].va, np.load(tmp_path / "ens" / "va" / f"{t}.npy"), atol=1e-5)
        np.testing.assert_allclose(got[t].au_probs, np.load(tmp_path / "ens" / "au" / f"{t}.npy"), atol=1e-5)
        np.testing.assert_allclose(got[t].expr.probs, np.load(tmp_path / "ens" / "probs" / f"{t}.npy"), atol=1e-5)
    card = (tmp_path / "b2" / "MODEL_CARD.md").read_text()
    assert "An ensemble of 2 networks" in card and "members combined: VA their weighted mean" in card
    held = data / "heldout"
    ok(exprnet_app, "infer", held / "videos", "--bundle", tmp_path / "b2", "--out", tmp_path / "infer", *_labels(held))
    path = tmp_path / "infer" / "heldout-1.csv"
    assert path.read_text().splitlines()[0].split(",") == HEADER
    t = read_csv(path)
    scores = json.loads((tmp_path / "infer" / "scores.json").read_text())
    va = np.stack([t[c] for c in VA_NAMES], 1)
    au = np.stack([t[a] for a in AU_NAMES], 1)
    np.testing.assert_array_equal(au, (np.stack([t[f"{a}_prob"] for a in AU_NAMES], 1) >= np.array(tp["au"]["thresholds"]))
                                  .astype(int))
    assert scores["va"] == pytest.approx(va_scores(va, read_labels(held / "VA_Set" / "heldout-1.txt").values)["va"],
                                         abs=1e-6)
    assert scores["au_f1"] == pytest.approx(au_scores(au, read_labels(held / "AU_Set" / "heldout-1.txt").values)["au_f1"],
                                            abs=1e-9)
    # a member whose heads lack one of the bundle's tasks: one line naming the manifest
    import shutil

    from exprnet.deploy.bundle import bundle_id
    from exprnet.errors import BundleError

    shutil.copytree(tmp_path / "b2", tmp_path / "b3")
    m = json.loads((tmp_path / "b3" / "bundle.json").read_text())
    m["members"][1]["tasks"] = ["expr", "va"]
    m["id"] = bundle_id(m)
    (tmp_path / "b3" / "bundle.json").write_text(json.dumps(m))
    with pytest.raises(BundleError, match="member 'run2' lists tasks") as e:
        Bundle.load(tmp_path / "b3")
    assert "\n" not in str(e.value) and "bundle.json" in str(e.value)


def test_live_rows_of_a_two_run_task_bundle_equal_infer(causal_bundle: Path, demo: Path, tmp_path: Path):
    """Two causal multi-task members: live combines them per task (VA weighted, AU/EXPR mean) as
    offline does, then the VA/AU post-processing: the rows equal `Bundle.predict`'s."""
    from exprnet.deploy.bundle import Bundle
    from exprnet.deploy.infer import Inferencer
    from exprnet.deploy.live import LiveEngine
    from featurizer import stream_media

    data = demo / "data"
    ok(exprnet_app, "train", "--store", demo / "features.zarr", *_labels(data), *TINY, "--set",
       "data.normalize=train", "--seed", "1", "--out", tmp_path / "run2")
    ok(exprnet_app, "bundle", demo / "run-train-norm", tmp_path / "run2", "--store", demo / "features.zarr",
       *_labels(data), "--out", tmp_path / "b2", "--device", "cpu")
    video = data / "heldout" / "videos" / "heldout-1.mp4"
    b = Bundle.load(tmp_path / "b2")
    assert len(b.members) == 2 and b.task_post.va_weights is not None
    (want,) = b.predict(video)
    with stream_media(video) as s:
        eng = LiveEngine(Inferencer(b), fps=s.fps, max_pending=8, name="h")
        rows = []
        for kind, t, x in s:
            rows += eng.push_frame(t, x, block=True) if kind == "frame" else eng.push_audio(t, x, 16_000)
    rows += eng.close()
    _same_tasks({k: np.array([r[k] for r in rows]) for k in rows[0]}, want, b.task_post.au.thresholds, 1e-5)


def test_a_run_that_kept_out_of_fold_task_predictions_is_fitted_on_them(bundle: Path, demo: Path, tmp_path: Path):
    """RUN/oof/tasks.npz (written here by hand, as a run trained with smooth.folds keeps it) in a run
    that kept no post-processing of its own (no RUN/task_post.json): the bundle's VA smoothing and
    AU thresholds are the fitters' on those arrays, and say so."""
    import shutil

    data = demo / "data"
    run = tmp_path / "run"
    shutil.copytree(demo / "run", run)
    (run / "task_post.json").unlink(missing_ok=True)
    train = json.loads((run / "tracks.json").read_text())["train"]
    rng = np.random.default_rng(0)
    arrays, ys = {}, {"va": [], "au": []}
    for task, folder in (("va", "VA_Set"), ("au", "AU_Set")):
        for t in train:
            f = data / folder / "Train_Set" / f"{t}.txt"
            if f.exists():
                y = read_labels(f).values
                ys[task].append(y)
                arrays[f"{task}:{t}"] = rng.uniform(-1 if task == "va" else 0, 1, y.shape).astype(np.float32)
    (run / "oof").mkdir(exist_ok=True)
    np.savez(run / "oof" / "tasks.npz", **arrays)
    ok(exprnet_app, "bundle", run, "--store", demo / "features.zarr", *_labels(data), "--out", tmp_path / "b",
       "--device", "cpu")
    tp = json.loads((tmp_path / "b" / "bundle.json").read_text())["task_post"]
    assert tp["va"] == fit_va_post([arrays[k] for k in arrays if k.startswith("va:")], ys["va"]).to_dict()
    assert tp["au"] == fit_au_post([arrays[k] for k in arrays if k.startswith("au:")], ys["au"]).to_dict()
    m = json.loads((tmp_path / "b" / "metrics.json").read_text())
    assert m["task_post"]["fitted_on"] == {"va": "training tracks, out of fold", "au": "training tracks, out of fold"}
