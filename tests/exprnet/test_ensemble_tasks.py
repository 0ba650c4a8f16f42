"""`exprnet ensemble` of runs with VA and AU heads: each shared task combined, post-processed as
fitted on the members' training predictions (in-sample, or out of fold from RUN/oof/tasks.npz),
scored, its submission written; scores checked against a direct computation (CCC formula,
sklearn's F1), the fitted post-processing against the fitters run on the members' own files."""

import json

import numpy as np
from exprnet.cli import app
from exprnet.tasks.combine import fit_va_weights
from exprnet.tasks.post import AUPost, VAPost, fit_au_post, fit_va_post
from exprnet.tasks.submission import read_au_submission, read_va_submission
from featurizer.core.annotations import read_labels
from sklearn.metrics import f1_score
from typer.testing import CliRunner

from .test_multitask import three  # noqa: F401  (the fixture: a corpus with EXPR, VA and AU labels)

runner = CliRunner()


def _ccc(x, y):
    mx, my = x.mean(), y.mean()
    return 2 * ((x - mx) * (y - my)).mean() / (x.var() + y.var() + (mx - my) ** 2)


def test_va_au_ensemble_scores_and_submissions(three, tmp_path):  # noqa: F811
    common = ["--store", str(three.store), "--features", ",".join(three.features), "--encoder", "mlp",
              "--epochs", "1", "--segment", "32", "--device", "cpu", "--labels", str(three.va_dir),
              "--labels", str(three.au_dir)]
    runs = []
    for seed in (0, 1):
        r = runner.invoke(app, ["train", *common, "--seed", str(seed), "--out", str(tmp_path / f"r{seed}")])
        assert r.exit_code == 0, r.output
        runs.append(str(tmp_path / f"r{seed}"))
    out = tmp_path / "ens"
    r = runner.invoke(app, ["ensemble", *runs, "--store", str(three.store), "--labels", str(three.va_dir),
                            "--labels", str(three.au_dir), "--out", str(out)], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    m = json.loads((out / "metrics.json").read_text())
    assert m["tasks"] == ["va", "au"] and set(m["per_task"]) == {"va", "au"}
    tp = m["task_post"]
    assert all("in-sample" in tp["fitted_on"][t]["chosen_on"] for t in ("va", "au"))
    assert np.allclose(tp["va_weights"], 0.5)  # in-sample: equal weights
    vpost, apost = VAPost.from_dict(tp["va"]), AUPost.from_dict(tp["au"])
    # the independent path: the members' own training predictions (kept in OUT/members/k/train), the
    # training labels, the fitters
    members = sorted((out / "members").iterdir())
    train = sorted(t for t, s in three.tracks.items() if s == "Train_Set")
    for task, folder, fit, got in (("va", three.va_dir, fit_va_post, tp["va"]), ("au", three.au_dir, fit_au_post,
                                                                                   tp["au"])):
        have = [t for t in train if (folder / "Train_Set" / f"{t}.txt").exists()]
        mean = [np.mean([np.load(d / "train" / task / f"{t}.npy").astype(np.float64) for d in members], 0)
                for t in have]
        want = fit([x.astype(np.float32) for x in mean], [read_labels(folder / "Train_Set" / f"{t}.txt").values
                                                         for t in have]).to_dict()
        assert want == got, task
    val = sorted(t for t, s in three.tracks.items() if s == "Validation_Set")
    va_sub, au_sub = read_va_submission(out / "submission_va.txt"), read_au_submission(out / "submission_au.txt")
    assert sorted(va_sub) == sorted(au_sub) == val
    yv, pv, ya, pa = [], [], [], []
    for t in val:
        va_file = three.va_dir / "Validation_Set" / f"{t}.txt"
        mean_va = np.mean([np.load(d / "val" / "va" / f"{t}.npy").astype(np.float64) for d in members], 0)
        mean_va = vpost.apply_track(mean_va.astype(np.float32))
        np.testing.assert_allclose(va_sub[t], mean_va, atol=1e-5)
        if va_file.exists():
            yv.append(read_labels(va_file).values)
            pv.append(mean_va)
        au_file = three.au_dir / "Validation_Set" / f"{t}.txt"
        mean_au = np.mean([np.load(d / "val" / "au" / f"{t}.npy") for d in members], 0)
        np.testing.assert_array_equal(au_sub[t], apost.apply_track(mean_au))
        if au_file.exists():
            ya.append(read_labels(au_file).values)
            pa.append(au_sub[t])
    y, p = np.concatenate(yv), np.concatenate(pv)
    keep = ~np.isnan(y).any(1)
    want = np.mean([_ccc(p[keep, d], y[keep, d]) for d in range(2)])
    assert abs(m["val_va"] - want) < 1e-5 and abs(m["per_task"]["va"]["val_va"] - want) < 1e-5
    y, p = np.concatenate(ya), np.concatenate(pa)
    keep = (y >= 0).all(1)
    want = np.mean([f1_score(y[keep, k], p[keep, k], zero_division=0) for k in range(12)])
    assert abs(m["val_au_f1"] - want) < 1e-9
    assert len(m["per_task"]["au"]["member"]) == 2 and "ensemble" in r.output
    # EXPR labels for runs without an EXPR head: one clear line
    r = runner.invoke(app, ["ensemble", *runs, "--store", str(three.store), "--labels", str(three.labels),
                            "--out", str(tmp_path / "e")])
    assert r.exit_code == 2 and "holds labels of expr but the runs share va, au" in r.output, r.output


def test_va_au_ensemble_fits_on_out_of_fold_predictions(three, tmp_path):  # noqa: F811
    """Both runs keep out-of-fold predictions (RUN/oof/tasks.npz, made here by hand: member 0
    close to the labels, member 1 noise): the VA weights are fit_va_weights' on them, the AU
    post-processing fit_au_post's on their mean probability, and the record says out of fold."""
    common = ["--store", str(three.store), "--features", ",".join(three.features), "--encoder", "mlp",
              "--epochs", "1", "--segment", "32", "--device", "cpu", "--labels", str(three.va_dir),
              "--labels", str(three.au_dir)]
    train = sorted(t for t, s in three.tracks.items() if s == "Train_Set")
    rng = np.random.default_rng(0)
    runs, oof = [], {}
    for seed in (0, 1):
        run = tmp_path / f"r{seed}"
        r = runner.invoke(app, ["train", *common, "--seed", str(seed), "--out", str(run)])
        assert r.exit_code == 0, r.output
        arrays = {}
        for task, folder in (("va", three.va_dir), ("au", three.au_dir)):
            for t in train:
                f = folder / "Train_Set" / f"{t}.txt"
                if not f.exists():
                    continue
                y = read_labels(f).values.astype(np.float32)
                clean = np.nan_to_num(y) if task == "va" else np.clip(y, 0, 1)
                noise = rng.normal(0, 0.3 if seed == 0 else 1.0, y.shape).astype(np.float32)
                v = np.clip(clean * (seed == 0) + noise, -1, 1) if task == "va" else 1 / (1 + np.exp(-(4 * clean - 2 + noise)))
                arrays[f"{task}:{t}"] = v.astype(np.float32)
        (run / "oof").mkdir(exist_ok=True)
        np.savez(run / "oof" / "tasks.npz", **arrays)
        oof[seed] = arrays
        runs.append(str(run))
    out = tmp_path / "ens"
    r = runner.invoke(app, ["ensemble", *runs, "--store", str(three.store), "--labels", str(three.va_dir),
                            "--labels", str(three.au_dir), "--out", str(out)])
    assert r.exit_code == 0, r.output
    tp = json.loads((out / "metrics.json").read_text())["task_post"]
    assert all(tp["fitted_on"][t]["chosen_on"] == "training tracks, out of fold" for t in ("va", "au"))
    assert list(out.glob("members/*/val")) and not list(out.glob("members/*/train"))  # no in-sample prediction
    for task, folder in (("va", three.va_dir), ("au", three.au_dir)):
        have = [t for t in train if f"{task}:{t}" in oof[0]]
        ys = [read_labels(folder / "Train_Set" / f"{t}.txt").values for t in have]
        per = [[oof[s][f"{task}:{t}"] for t in have] for s in (0, 1)]
        if task == "va":
            w = fit_va_weights(per, ys)
            assert np.allclose(tp["va_weights"], w) and (w[0] > w[1]).all()
            mixed = [(w[0] * a + w[1] * b).astype(np.float32) for a, b in zip(*per, strict=True)]
            assert fit_va_post(mixed, ys).to_dict() == tp["va"]
        else:
            mean = [np.mean([a, b], 0).astype(np.float32) for a, b in zip(*per, strict=True)]
            assert fit_au_post(mean, ys).to_dict() == tp["au"]
