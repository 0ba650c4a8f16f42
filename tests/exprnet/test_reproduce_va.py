"""`exprnet reproduce va`: the authors' VA model planned, trained on stand-ins and reported."""

import csv
import json

import numpy as np
import pytest
from exprnet.cli import app
from featurizer.core.annotations import write_va_annotation
from typer.testing import CliRunner

from .synth import make_corpus
from .test_reproduce import DEMO_FEATURES, SMALL

runner = CliRunner()
# per expression class a (valence, arousal), so the features (class prototypes) carry VA
VA = np.array([[0, -0.1], [-0.8, 0.5], [-0.8, 0], [-0.6, 0.9], [0.9, 0.2], [-0.9, -0.4], [-0.1, 0.95], [0.3, 0.7]],
              np.float32)


@pytest.fixture(scope="module")
def va_like(tmp_path_factory):
    """The demo store's feature names on a tiny corpus, with an EXPR folder and a VA_Set folder."""
    c = make_corpus(tmp_path_factory.mktemp("va"), n_train=6, n_val=2, frames=(60, 90), features=DEMO_FEATURES,
                    seed=5)
    rng = np.random.default_rng(2)
    for t, split in sorted(c.tracks.items()):
        lab = c.label_arrays[t]
        va = VA[np.where(lab >= 0, lab, 0)] + rng.normal(0, 0.05, (len(lab), 2)).astype(np.float32)
        va[lab < 0] = np.nan
        write_va_annotation(c.root / "VA_Set" / split / f"{t}.txt", np.clip(va, -1, 1))
    c.va_dir = c.root / "VA_Set"
    return c


def args(c, labels, out, *more):
    return ["reproduce", "va", "--store", str(c.store), "--labels", str(labels), "--out", str(out), *more]


def test_dry_run_plans_the_va_row_with_its_missing_features_and_stand_ins(va_like, tmp_path):
    r = runner.invoke(app, [*args(va_like, va_like.va_dir, tmp_path / "out", "--dry-run", "--seeds", "2")],
                      env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    assert not (tmp_path / "out").exists()  # a dry run writes nothing
    assert "va-paper" in r.output and "no VA figure" in r.output and "0/2 done" in r.output
    assert "t1-r" not in r.output and "vote" not in r.output  # the EXPR tables are not planned
    needed = next(ln for ln in r.output.splitlines() if ln.startswith("features needed:"))
    assert needed == "features needed: fau, ires100, ecapatdnn, hubert"
    missing = next(ln for ln in r.output.splitlines() if ln.startswith("missing from the store:"))
    assert {f.split(" (")[0] for f in missing.split(": ", 1)[1].split(", ")} == {"fau", "ires100", "ecapatdnn",
                                                                                   "hubert"}
    makes = [ln for ln in r.output.splitlines() if ln.startswith("make ")]
    assert len(makes) == 4 and all("featurizer extract" in ln and str(va_like.va_dir) in ln for ln in makes)
    r = runner.invoke(app, [*args(va_like, va_like.va_dir, tmp_path / "out", "--dry-run", "--standin", "demo")],
                      env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    assert "features needed: hog, compare, egemaps" in r.output and "the store has all of them" in r.output
    assert "fau->hog" in r.output and "hubert->egemaps" in r.output


def test_plan_of_va_is_one_row_of_the_va_preset(va_like, tmp_path):
    from exprnet.errors import ConfigError
    from exprnet.paper.plan import DEMO_STANDINS, digest, make_plan

    plan = make_plan("va", str(va_like.store), str(va_like.va_dir), tmp_path, seeds=3, standins=DEMO_STANDINS)
    assert plan.tables == ["va"] and plan.cv is None and len(plan.rows) == 1
    rp = plan.rows[0]
    assert (rp.preset, rp.row.table, rp.row.encoder, rp.row.features) == (
        "va-paper", "va", "transformer", ["fau", "ires100", "ecapatdnn", "hubert"])
    assert rp.features == ["hog", "compare", "egemaps"] and rp.standins["fau"] == "hog"
    assert (rp.config.model.layers, rp.config.model.segment, rp.config.data.labels) == (4, 150, str(va_like.va_dir))
    assert [(s, f.name) for s, f in rp.runs] == [
        (3407 + k, f"transformer-{digest(rp.config)}-s{3407 + k}") for k in range(3)]
    assert plan.missing == {} and plan.n_tracks == len(va_like.tracks)
    assert make_plan("va", str(va_like.store), str(va_like.va_dir), tmp_path, only=["va-paper"]).rows
    with pytest.raises(ConfigError, match="not a row of table va"):
        make_plan("va", str(va_like.store), str(va_like.va_dir), tmp_path, only=["t1-r1"])


def test_wrong_labels_for_the_table_is_one_line_naming_folder_and_task(va_like, tmp_path):
    r = runner.invoke(app, args(va_like, va_like.labels, tmp_path / "out", "--dry-run"))
    assert r.exit_code == 2
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and str(va_like.labels) in lines[0] and "EXPR labels" in lines[0], r.output
    assert "VA_Set" in lines[0]  # what to pass
    r = runner.invoke(app, ["reproduce", "1", "--store", str(va_like.store), "--labels", str(va_like.va_dir),
                            "--out", str(tmp_path / "out"), "--dry-run"])
    assert r.exit_code == 2
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and str(va_like.va_dir) in lines[0] and "VA labels" in lines[0], r.output
    assert "EXPR_Set" in lines[0] and "TABLE va" in lines[0]
    assert not (tmp_path / "out").exists()


def test_va_end_to_end_report_equals_the_runs_metrics(va_like, tmp_path):
    out = tmp_path / "out"
    argv = args(va_like, va_like.va_dir, out, "--seeds", "2", "--standin", "demo", *SMALL)
    r = runner.invoke(app, argv)
    assert r.exit_code == 0, r.output
    assert "[1/2]" in r.output and "(va-paper)" in r.output and "VA CCC" in r.output
    runs = sorted((out / "runs").iterdir())
    assert [p.name.rsplit("-", 1)[1] for p in runs] == ["s3407", "s3408"]  # named by configuration and seed
    assert len({p.name.rsplit("-", 1)[0] for p in runs}) == 1 and runs[0].name.startswith("transformer-")
    ms = [json.loads((p / "metrics.json").read_text()) for p in runs]
    for m in ms:  # VA runs: the CCCs, no EXPR F1
        assert m["tasks"] == ["va"] and m["best_val_f1"] is None and m["features"] == ["hog", "compare", "egemaps"]
    lasts, ends = [], []
    for p in runs:
        with (p / "epochs.csv").open() as f:
            ends.append(list(csv.DictReader(f))[-1])  # the history keeps each CCC per epoch
            lasts.append(float(ends[-1]["val_va"]))
    with (out / "results.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [(r["table"], r["row"], r["metric"]) for r in rows] == [
        ("va", "va", "val_va"), ("va", "va", "val_ccc_valence"), ("va", "va", "val_ccc_arousal")]
    for row in rows:
        vals = [m[row["metric"]] for m in ms]
        assert float(row["measured_mean"]) == pytest.approx(np.mean(vals), abs=1e-12)
        assert float(row["measured_sd"]) == pytest.approx(np.std(vals, ddof=1), abs=1e-12)
        assert row["seeds_done"] == "2" and row["paper_f1"] == "" and row["difference"] == ""
        assert row["preset"] == "va-paper" and row["features_used"] == "hog+compare+egemaps"
        assert row["paper_features"] == "fau+ires100+ecapatdnn+hubert"
        assert "egemaps: extractor=egemaps" in row["provenance"] and "stand-in for hubert" in row["provenance"]
    for row in rows:
        want = np.mean([float(e[row["metric"]]) for e in ends])
        assert float(row["measured_last_epoch_mean"]) == pytest.approx(want, abs=1e-12)
    report = (out / "REPORT.md").read_text()
    assert "## VA (the authors' released model)" in report and "publishes no VA figure" in report
    assert "Stand-in features" in report and "## Feature provenance" in report
    for seed, p, m, last in zip((3407, 3408), runs, ms, lasts, strict=True):
        cells = f"| {seed} | `{p.name}` | {m['best_epoch']} | {m['val_va']:.4f} | {m['val_ccc_valence']:.4f} | " \
                f"{m['val_ccc_arousal']:.4f} | {last:.4f} |"
        assert cells in report, cells
    mean = " | ".join(f"{np.mean(v):.4f} ± {np.std(v, ddof=1):.4f}" for v in (
        [m["val_va"] for m in ms], [m["val_ccc_valence"] for m in ms], [m["val_ccc_arousal"] for m in ms], lasts))
    assert f"| mean ± sd (2 of 2) | | | {mean} |" in report
    r = runner.invoke(app, argv)  # resumes: finished runs are kept, the report rewritten
    assert r.exit_code == 0 and "2 kept, 0 trained" in r.output
    assert (out / "REPORT.md").read_text() == report


@pytest.mark.heavy  # a local Ray cluster: about a minute on 2 shared cores
def test_va_on_ray_reports_each_run_as_it_finishes(va_like, tmp_path, monkeypatch):
    pytest.importorskip("ray")
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    out = tmp_path / "out"
    argv = args(va_like, va_like.va_dir, out, "--standin", "demo", *SMALL)
    r = runner.invoke(app, [*argv, "--executor", "ray"])
    assert r.exit_code == 0, r.output
    (run,) = (out / "runs").iterdir()
    m = json.loads((run / "metrics.json").read_text())
    assert f"[1/1] {run.name}: trained, best val VA CCC {m['val_va']:.4f}" in r.output
    with (out / "results.csv").open() as f:
        assert float(next(csv.DictReader(f))["measured_mean"]) == m["val_va"]  # one seed: the run's own
    r = runner.invoke(app, argv)  # and kept by a local re-run
    assert r.exit_code == 0 and "1 kept, 0 trained" in r.output
