"""A multi-task run's post-processing chosen out of fold inside the run: every head's held-out
predictions (RUN/oof/tasks.npz), the VA/AU post-processing fitted on them (RUN/task_post.json),
EXPR's calibration and decoder, and predict's files scoring what metrics.json says."""

import json
import shutil

import numpy as np
import pytest
import torch
from exprnet.data.bank import Standardizer
from exprnet.data.batches import BatchBuilder
from exprnet.models import build_model
from exprnet.models.inference import predict_probs
from exprnet.prediction.tasks import predict_tasks
from exprnet.tasks.metrics import au_scores, va_scores
from exprnet.tasks.post import AUPost, VAPost, fit_au_post, fit_va_post
from exprnet.tasks.submission import read_au_submission, read_va_submission
from exprnet.training import experiment
from exprnet.training.experiment import prepare
from exprnet.training.runfolder import RunFolder
from featurizer.core.annotations import (
    find_annotations,
    read_labels,
    source_video,
    write_au_annotation,
    write_va_annotation,
)

from .conftest import config_for
from .synth import make_corpus

VA = np.array([[0, -0.1], [-0.8, 0.5], [-0.8, 0], [-0.6, 0.9], [0.9, 0.2], [-0.9, -0.4], [-0.1, 0.95], [0.3, 0.7]],
              np.float32)
AU = (np.random.default_rng(0).random((8, 12)) < 0.35).astype(np.int8)
SMOOTH = {"kind": "viterbi", "weight": "auto", "calibrate": "auto", "folds": 2}


def _write_tasks(c, root, rng, skip_va=(), skip_au=()):
    for t, split in sorted(c.tracks.items()):
        lab = c.label_arrays[t]
        shown = np.where(lab >= 0, lab, 0)
        if t not in skip_va:
            va = VA[shown] + rng.normal(0, 0.05, (len(lab), 2)).astype(np.float32)
            va[lab < 0] = np.nan
            write_va_annotation(root / "VA_Set" / split / f"{t}.txt", np.clip(va, -1, 1))
        if t not in skip_au:
            au = AU[shown].copy()
            au[:10] = -1
            write_au_annotation(root / "AU_Set" / split / f"{t}.txt", au)


def task_corpus(root, seed, labels_seed, skip_first=False):
    """A small corpus with EXPR, VA_Set and AU_Set (``va_dir``, ``au_dir``); ``skip_first``: VA
    left off the first training track, AU off the last."""
    c = make_corpus(root, n_train=6, n_val=2, frames=(120, 200), seed=seed)
    train = sorted(t for t, s in c.tracks.items() if s == "Train_Set")
    _write_tasks(c, c.root, np.random.default_rng(labels_seed), *((train[:1], train[-1:]) if skip_first else ()))
    c.va_dir, c.au_dir = c.root / "VA_Set", c.root / "AU_Set"
    return c


@pytest.fixture(scope="module")
def three(tmp_path_factory):
    """EXPR on every track, VA on all but one training track, AU on all but another."""
    return task_corpus(tmp_path_factory.mktemp("oof"), 3, 1, skip_first=True)


def _cfg(c, labels, **smooth):
    return config_for(c, "mlp", data={"labels": [str(x) for x in labels]}, train={"epochs": 2},
                      smooth={**SMOOTH, **smooth})


@pytest.fixture(scope="module")
def run_all(three, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "all"
    experiment.train(_cfg(three, [three.labels, three.va_dir, three.au_dir]), out)
    return out


def _held_out(run, track):
    """The fold that held ``track`` out, and its training tracks."""
    for fold in sorted((run / "oof").glob("fold*")):
        tr = RunFolder(fold).read_tracks()
        if track in tr["val"]:
            return fold, tr["train"]
    raise AssertionError(f"no sub-run held {track} out")


def _predict(run_dir, ckpt, bank, tracks):
    rf = RunFolder(run_dir)
    cfg = rf.read_config().resolved()
    b = BatchBuilder(bank, Standardizer.load(rf.stats), cfg.model.segment, cfg.data.present_flags,
                     normalize=cfg.data.normalize)
    state = rf.load(ckpt)
    net = build_model(b.input_dim, cfg.model, state.get("tasks", ["expr"]))
    net.load_state_dict(state["model"])
    ids = bank.ids(tracks)
    got = predict_probs(net, b, bank, ids, cfg.model, 8, torch.device("cpu"))
    return {bank.tracks[i]: got[i] for i in ids}, net.slices


def test_oof_task_predictions_come_from_sub_runs_that_never_saw_the_source_video(three, run_all):
    prep = prepare(RunFolder(run_all).read_config())
    bank, train = prep.bank, RunFolder(run_all).read_tracks()["train"]
    with np.load(run_all / "oof" / "tasks.npz") as z:
        arrays = {k: z[k] for k in z.files}
    with np.load(run_all / "oof" / "probs.npz") as z:
        expr = {k: z[k] for k in z.files}
    va_files, au_files = find_annotations(three.va_dir), find_annotations(three.au_dir)
    want_va, want_au = sorted(t for t in train if t in va_files), sorted(t for t in train if t in au_files)
    assert len(want_va) == len(want_au) == len(train) - 1
    assert set(arrays) == ({f"va:{t}" for t in want_va} | {f"yva:{t}" for t in want_va}
                           | {f"au:{t}" for t in want_au} | {f"yau:{t}" for t in want_au})
    assert set(expr) == {f"{p}:{t}" for t in train for p in ("p", "y")}
    best, slices = _predict(run_all, "best", bank, train)
    for t in train:
        fold, seen = _held_out(run_all, t)
        assert source_video(t) not in {source_video(s) for s in seen}, (t, seen)
        held, _ = _predict(fold, "last", bank, [t])
        n = len(three.label_arrays[t])
        if t in want_va:
            v = arrays[f"va:{t}"]
            assert v.shape == (n, 2) and v.dtype == np.float32
            np.testing.assert_allclose(v, held[t][:, slices["va"]], atol=1e-6)
            assert not np.allclose(v, best[t][:, slices["va"]], atol=1e-3)  # not the run's own
            np.testing.assert_array_equal(arrays[f"yva:{t}"], read_labels(va_files[t].path).values)
        if t in want_au:
            a = arrays[f"au:{t}"]
            assert a.shape == (n, 12) and a.dtype == np.float32 and ((a >= 0) & (a <= 1)).all()
            np.testing.assert_allclose(a, held[t][:, slices["au"]], atol=1e-6)
        np.testing.assert_allclose(expr[f"p:{t}"], held[t][:, slices["expr"]], atol=1e-6)
        np.testing.assert_array_equal(expr[f"y:{t}"], three.label_arrays[t])
    # the fitted post-processing is the one those out-of-fold predictions give (exprnet.tasks.post)
    rec = json.loads((run_all / "task_post.json").read_text())
    assert rec["source"].startswith("out of fold (2 sub-runs")
    assert VAPost.from_dict(rec["va"]).width == fit_va_post([arrays[f"va:{t}"] for t in want_va],
                                                            [arrays[f"yva:{t}"] for t in want_va]).width
    au = fit_au_post([arrays[f"au:{t}"] for t in want_au], [arrays[f"yau:{t}"] for t in want_au])
    np.testing.assert_array_equal(AUPost.from_dict(rec["au"]).thresholds, au.thresholds)


def test_multitask_run_with_expr_gets_calibration_and_a_decoder(run_all):
    m = json.loads((run_all / "metrics.json").read_text())
    cal = json.loads((run_all / "calibration.json").read_text())
    assert cal["temperature"] > 0 and "val_ece_after" in cal
    assert m["smoothing"]["kind"] == "viterbi" and m["smoothing"]["probabilities"].startswith("out of fold")
    assert m["val_f1_post"] == m["smoothing"]["val_f1"] == m["val_f1_smoothed"]
    keys = {"val_va_post", "val_ccc_valence_post", "val_ccc_arousal_post", "val_au_f1_post", "val_f1_AU1_post"}
    assert keys <= set(m) and {"val_va", "val_au_f1", "val_f1"} <= set(m)
    assert m["task_post"]["source"].startswith("out of fold")


def test_predict_files_score_what_metrics_json_says(three, run_all, tmp_path):
    m = json.loads((run_all / "metrics.json").read_text())
    val = RunFolder(run_all).read_tracks()["val"]
    out = tmp_path / "p"
    s = predict_tasks(run_all, str(three.store), val, out, labels=[str(three.labels), str(three.va_dir),
                                                                     str(three.au_dir)], device="cpu")
    assert s["va"] == pytest.approx(m["val_va_post"], abs=1e-5)
    assert s["au_f1"] == pytest.approx(m["val_au_f1_post"], abs=1e-5)
    assert s["f1"] == pytest.approx(m["val_f1_post"], abs=1e-5)
    # recomputed from the submission files against the annotation files
    va, au = read_va_submission(out / "submission_va.txt"), read_au_submission(out / "submission_au.txt")
    vf, af = find_annotations(three.va_dir), find_annotations(three.au_dir)
    assert va_scores(np.concatenate([va[t] for t in val]),
                     np.concatenate([read_labels(vf[t].path).values for t in val]))["va"] == pytest.approx(s["va"])
    assert au_scores(np.concatenate([au[t] for t in val]),
                     np.concatenate([read_labels(af[t].path).values for t in val]))["au_f1"] == pytest.approx(s["au_f1"])
    post = AUPost.from_dict(m["task_post"]["au"])
    np.testing.assert_array_equal(au[val[0]], post.binarize(np.load(out / "au" / f"{val[0]}.npy")))


def test_fitted_post_is_blind_to_validation_labels(three, run_all, tmp_path):
    """Other validation labels: the same thresholds and width (and calibration), other validation scores."""
    root = tmp_path / "other"
    for d in ("VA_Set", "AU_Set"):
        shutil.copytree(three.root / d, root / d)
    rng = np.random.default_rng(7)
    for t, split in three.tracks.items():
        if split != "Validation_Set":
            continue
        n = len(three.label_arrays[t])
        write_va_annotation(root / "VA_Set" / split / f"{t}.txt", rng.uniform(-1, 1, (n, 2)))
        write_au_annotation(root / "AU_Set" / split / f"{t}.txt", (rng.random((n, 12)) < 0.5).astype(np.int8))
    out = tmp_path / "run"
    experiment.train(_cfg(three, [three.labels, root / "VA_Set", root / "AU_Set"]), out)
    a, b = (json.loads((r / "task_post.json").read_text()) for r in (run_all, out))
    assert a["va"] == b["va"] and a["au"] == b["au"]
    ma, mb = (json.loads((r / "metrics.json").read_text()) for r in (run_all, out))
    assert ma["val_va_post"] != mb["val_va_post"] and ma["val_au_f1_post"] != mb["val_au_f1_post"]


def test_single_task_runs_fit_their_post_out_of_fold(three, tmp_path):
    for task, labels in (("va", three.va_dir), ("au", three.au_dir)):
        out = tmp_path / task
        experiment.train(_cfg(three, [labels], kind="none", calibrate="none"), out)
        with np.load(out / "oof" / "tasks.npz") as z:
            assert {k.split(":")[0] for k in z.files} == {task, f"y{task}"}
        assert not (out / "oof" / "probs.npz").exists() and not (out / "calibration.json").exists()
        m = json.loads((out / "metrics.json").read_text())
        rec = json.loads((out / "task_post.json").read_text())
        assert set(rec) - {"source", "train_tracks"} == {task} and m["task_post"] == rec
        assert (f"val_{task}_post" if task == "va" else "val_au_f1_post") in m and "val_f1_post" not in m


def test_in_sample_without_folds_says_so(three, tmp_path):
    out = tmp_path / "r"
    experiment.train(_cfg(three, [three.va_dir], kind="none", calibrate="none", folds=0), out)
    rec = json.loads((out / "task_post.json").read_text())
    assert rec["source"].startswith("in-sample") and not (out / "oof").exists()


def test_bundle_takes_the_runs_task_post_and_refits_for_runs_without(three, run_all, tmp_path):
    from exprnet.deploy.make_tasks import make_task_bundle

    labels = [str(three.labels), str(three.va_dir), str(three.au_dir)]
    out = make_task_bundle([run_all], str(three.store), labels, tmp_path / "b", device="cpu")
    rec = json.loads((run_all / "task_post.json").read_text())
    post = json.loads((out / "bundle.json").read_text())["task_post"]
    assert post == {"va": rec["va"], "au": rec["au"]}
    # a run that kept none (made before this): fitted here on its in-sample training predictions
    old = tmp_path / "old"
    shutil.copytree(run_all, old)
    (old / "task_post.json").unlink()
    (old / "oof" / "tasks.npz").unlink(missing_ok=True)  # (with it kept: fitted on it, tests/e2e/test_tasks_deploy.py)
    out = make_task_bundle([old], str(three.store), labels, tmp_path / "b2", device="cpu")
    post = json.loads((out / "bundle.json").read_text())["task_post"]
    prep = prepare(RunFolder(old).read_config())
    train = RunFolder(old).read_tracks()["train"]
    best, slices = _predict(old, "best", prep.bank, train)
    va_files, au_files = find_annotations(three.va_dir), find_annotations(three.au_dir)
    tv, ta = [t for t in train if t in va_files], [t for t in train if t in au_files]
    va = fit_va_post([best[t][:, slices["va"]] for t in tv], [read_labels(va_files[t].path).values for t in tv])
    au = fit_au_post([best[t][:, slices["au"]] for t in ta], [read_labels(au_files[t].path).values for t in ta])
    assert post["va"]["width"] == va.width and post["au"]["widths"] == au.to_dict()["widths"]
    np.testing.assert_allclose(post["au"]["thresholds"], au.thresholds)


def test_a_broken_task_post_is_one_clear_error(run_all, tmp_path):
    from exprnet.errors import RunError
    from exprnet.prediction.run_post import RunPost

    bad = tmp_path / "bad"
    shutil.copytree(run_all, bad)
    rec = json.loads((bad / "task_post.json").read_text())
    rec["au"]["thresholds"] = rec["au"]["thresholds"][:5]
    (bad / "task_post.json").write_text(json.dumps(rec))
    with pytest.raises(RunError) as e:
        RunPost.of(bad, ["expr", "va", "au"])
    msg = str(e.value)
    assert "task_post.json" in msg and "5 thresholds" in msg and "\n" not in msg
