"""`exprnet reproduce`: the plan on a store without the paper's features, and two rows end to end."""

import csv
import json
import shlex

import pytest
import typer
from exprnet.cli import app
from exprnet.paper.tables import table_rows
from featurizer import list_models
from featurizer.cli import app as featurizer_app
from typer.testing import CliRunner

from .synth import make_corpus

runner = CliRunner()
DEMO_FEATURES = {"egemaps": 6, "compare": 8, "fbank": 8, "hog": 12}  # the demo store's names
SMALL = ["--set", "train.epochs=2", "--set", "model.d_model=16", "--set", "model.hidden=16", "--set",
         "model.layers=1", "--set", "model.head=[16]", "--set", "model.segment=16", "--set", "model.infer_stride=16",
         "--set", "train.threads=1", "--device", "cpu"]


@pytest.fixture(scope="module")
def demo_like(tmp_path_factory):
    return make_corpus(tmp_path_factory.mktemp("demo"), n_train=6, n_val=2, frames=(60, 90),
                       features=DEMO_FEATURES, seed=7)


@pytest.fixture(scope="module")
def paper_like(tmp_path_factory):
    feats = {"densenet": 8, "mae": 8, "ires100": 8, "ecapatdnn": 6, "hubert": 6}
    return make_corpus(tmp_path_factory.mktemp("paper"), n_train=6, n_val=2, frames=(120, 200), features=feats,
                       seed=11)


def test_dry_run_on_the_demo_store_plans_every_row_with_runnable_commands(demo_like, tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    r = runner.invoke(app, ["reproduce", "all", "--store", str(demo_like.store), "--labels", str(demo_like.labels),
                            "--out", str(tmp_path / "out"), "--dry-run", "--videos", str(videos)],
                      env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    assert not (tmp_path / "out").exists()  # a dry run writes nothing
    for t in [f"t1-r{i}" for i in range(1, 9)] + [f"t3-r{i}" for i in range(1, 10)] + [f"t4-r{i}" for i in range(1, 7)]:
        assert f" {t} " in r.output, t
    assert "T2 (cv mean)" in r.output and "vote over t3-r1..t3-r9" in r.output
    missing = next(ln for ln in r.output.splitlines() if ln.startswith("missing from the store:"))
    needed = {"densenet", "mae", "ires100", "fau", "wav2vec", "ecapatdnn", "hubert"}
    assert {f.split(" (")[0] for f in missing.split(": ", 1)[1].split(", ")} == needed  # fbank is in the store
    commands = [ln.split(": ", 1)[1] for ln in r.output.splitlines() if ln.startswith("make ")]
    assert len(commands) == len(needed)
    known = set(list_models())
    extract = typer.main.get_command(featurizer_app).commands["extract"]
    for cmd in commands:  # each parses with featurizer's own CLI and names a model it has
        argv = shlex.split(cmd)
        assert argv[:2] == ["featurizer", "extract"]
        ctx = extract.make_context("extract", argv[2:])
        assert ctx.params["model"] in needed & known and ctx.params["out"] == str(demo_like.store)
        assert [str(v) for v in ctx.params["videos"]] == [str(videos)]


def test_stand_ins_make_the_demo_store_complete(demo_like, tmp_path):
    r = runner.invoke(app, ["reproduce", "all", "--store", str(demo_like.store), "--labels", str(demo_like.labels),
                            "--out", str(tmp_path / "out"), "--dry-run", "--standin", "demo"], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    assert "the store has all of them" in r.output and "mae->hog" in r.output
    r = runner.invoke(app, ["reproduce", "1", "--store", str(demo_like.store), "--labels", str(demo_like.labels),
                            "--out", str(tmp_path / "out")])
    assert r.exit_code == 2 and "featurizer extract VIDEOS" in r.output and "--standin" in r.output
    assert not (tmp_path / "out" / "runs").exists()  # refused before training anything


def test_two_rows_end_to_end_with_seeds_and_resume(paper_like, tmp_path):
    out = tmp_path / "out"
    args = ["reproduce", "3", "--rows", "t3-r8,t3-r9", "--seeds", "2", "--store", str(paper_like.store),
            "--labels", str(paper_like.labels), "--out", str(out), *SMALL]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    with (out / "results.csv").open() as f:
        rows = {row["row"]: row for row in csv.DictReader(f)}
    assert list(rows) == ["8", "9", "ensemble"]
    paper = {r.row: r.f1 for r in table_rows("3")}
    for k, row in rows.items():
        assert float(row["paper_f1"]) == paper[k]
        assert row["seeds_done"] == "2" and 0 <= float(row["measured_mean"]) <= 1 and float(row["measured_sd"]) >= 0
        assert float(row["difference"]) == pytest.approx(float(row["measured_mean"]) - paper[k])
    assert rows["8"]["runs"] != rows["9"]["runs"]  # rows 8 and 9: one configuration, other seeds
    assert "ecapatdnn:" in rows["9"]["provenance"] and "extractor=hubert" in rows["9"]["provenance"]
    report = (out / "REPORT.md").read_text()
    assert "| 9 | t3-r9 | lstm |" in report and "0.41410" in report and "## Feature provenance" in report
    vote = json.loads((out / "table3-vote" / "s0" / "metrics.json").read_text())
    assert vote["method"] == "vote" and set(vote["selection"]) == {"best", "last"}
    assert float(rows["ensemble"]["measured_mean"]) == pytest.approx(
        (vote["selection"]["best"]["val_f1"] + json.loads(
            (out / "table3-vote" / "s1" / "metrics.json").read_text())["selection"]["best"]["val_f1"]) / 2)
    r = runner.invoke(app, args)  # resumes: finished runs are kept
    assert r.exit_code == 0 and "4 kept, 0 trained" in r.output
