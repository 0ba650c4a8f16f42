import json
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest
from featurizer.cli import app
from featurizer.core.annotations import folder_task, read_labels
from featurizer.core.store import FeatureStore
from typer.testing import CliRunner

runner = CliRunner()
wide = CliRunner(env={"COLUMNS": "250"})  # tables may wrap at narrow widths; tests that read one use this
narrow = CliRunner(env={"COLUMNS": "40"})  # messages never do


def test_models_table_and_json():
    r = wide.invoke(app, ["models"])
    assert r.exit_code == 0
    for name in ("egemaps", "compare", "fbank", "hog"):
        assert name in r.output
    rows = json.loads(runner.invoke(app, ["models", "--json"]).output)
    assert {"name", "modality", "dim", "timing", "weights"} <= set(rows[0])


def test_unknown_model_is_named_with_the_known_ones(media, tmp_path):
    r = runner.invoke(app, ["extract", str(media["cfr"]), "--model", "egemaps,nosuch", "--out", str(tmp_path / "s")])
    assert r.exit_code == 2
    assert "nosuch: unknown extractor" in r.output and "egemaps" in r.output


def test_import_export_round_trip_npy_and_authors_hdf5(tmp_path):
    rng = np.random.default_rng(0)
    src = tmp_path / "npy"
    src.mkdir()
    a = rng.standard_normal((30, 7)).astype(np.float32)
    np.save(src / "video1.npy", a)
    store = str(tmp_path / "s.zarr")
    r = runner.invoke(app, ["import", str(src), "--store", store, "--name", "mine", "--fps", "30"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["export", "--store", store, "--track", "video1", "--model", "mine",
                            "--out", str(tmp_path / "out.npy")])
    assert r.exit_code == 0, r.output
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), a, atol=4e-3)  # float16 store
    assert np.load(tmp_path / "out.present.npy").all()
    # the authors' HDF5: one file per feature, datasets <track>/00001, frame 2 missing (no face)
    h5 = tmp_path / "h5"
    h5.mkdir()
    with h5py.File(h5 / "densenet.h5", "w") as f:
        for i in (1, 3, 4):
            f[f"video1/{i:05d}"] = np.full(5, i, np.float32)
    r = runner.invoke(app, ["import", str(h5), "--store", store, "--name", "densenet"])
    assert r.exit_code == 1 and "4 rows, but track 'video1' has 30" in r.output  # wrong length is named
    with h5py.File(h5 / "densenet.h5", "w") as f:
        for i in range(1, 31):
            if i != 2:
                f[f"video1/{i:05d}"] = np.full(5, i, np.float32)
    assert runner.invoke(app, ["import", str(h5), "--store", store, "--name", "densenet"]).exit_code == 0
    d = FeatureStore(store).read_feature("video1", "densenet")
    assert d.values.shape == (30, 5) and d.present.tolist()[:3] == [True, False, True]
    assert d.values[1, 0] in (1.0, 3.0)  # nearest-filled
    info = json.loads(runner.invoke(app, ["inspect", store, "--json"]).output)
    assert info["n_tracks"] == 1 and info["models"]["densenet"]["present"] == 29
    assert "densenet" in wide.invoke(app, ["inspect", store]).output


def test_export_of_a_missing_array_is_a_clear_error(tmp_path):
    store = str(tmp_path / "s.zarr")
    FeatureStore(store).write_timeline("t", np.arange(3) / 25, np.ones(3, bool))
    r = runner.invoke(app, ["export", "--store", store, "--track", "t", "--model", "hog", "--out", str(tmp_path / "x.npy")])
    assert r.exit_code == 2 and "no complete feature array" in r.output
    r = runner.invoke(app, ["inspect", str(tmp_path / "nothing.zarr")])
    assert r.exit_code == 2 and "no feature store" in r.output


def test_demo_data_layout(tmp_path):
    r = runner.invoke(app, ["demo-data", str(tmp_path / "d"), "--videos", "2", "--seconds", "1"])
    assert r.exit_code == 0, r.output
    d = tmp_path / "d"
    assert sorted(p.name for p in (d / "videos").iterdir()) == ["101-25-320x240.mp4", "video3.mp4"]
    anns = sorted(p.name for p in (d / "annotations" / "Train_Set").iterdir())
    assert anns == ["101-25-320x240.txt", "video3_left.txt", "video3_right.txt"]
    lines = (d / "annotations" / "Train_Set" / "video3_left.txt").read_text().splitlines()
    assert lines[0].startswith("Neutral,Anger") and len(lines) == 26
    assert len(list((d / "cropped_aligned" / "video3_right").glob("*.jpg"))) > 15
    # VA and AU beside: each task its own subset of videos (AU skips the first video)
    assert folder_task(d / "VA_Set") == "va" and folder_task(d / "AU_Set") == "au"
    assert sorted(p.name for p in (d / "VA_Set" / "Train_Set").iterdir()) == anns
    assert sorted(p.name for p in (d / "AU_Set" / "Train_Set").iterdir()) == anns[1:]
    va = read_labels(d / "VA_Set" / "Train_Set" / "video3_left.txt").values
    au = read_labels(d / "AU_Set" / "Train_Set" / "video3_left.txt").values
    assert va.shape == (25, 2) and au.shape == (25, 12)


def _error_line(output: str) -> str:
    (line,) = [s for s in output.splitlines() if s.startswith("error:")]
    return line


@pytest.mark.parametrize("args,words", [
    (["--model", "egemaps,hubert", "--option", "hubert.dropout=0.1"],
     "error: hubert option dropout: hubert takes no option 'dropout' (it takes: weights, device, batch_size"),
    (["--model", "hubert", "--option", "hubert.max_chunk_seconds=abc"],
     "error: hubert option max_chunk_seconds='abc': is not a valid float"),
    (["--model", "egemaps", "--option", "nosuch.x=1"], "error: --option nosuch.x=...: nosuch: unknown extractor (known: "),
    (["--model", "egemaps", "--option", "fbank.x=1"],
     "error: --option fbank.x=...: fbank is not among the selected models (egemaps) (add it to --model"),
    (["--model", "hubert", "--option", "hubert"], "error: --option hubert: expected NAME=VALUE"),
    (["--model", "hubert", "--option", "max_chunk_seconds=2"], "error: --option max_chunk_seconds=2: expected NAME.KEY=VALUE"),
    (["--model", "egemaps", "--precision", "bf16"], "error: --precision bf16: none of egemaps takes it"),
    (["--model", "egemaps", "--batch-size", "4"], "error: --batch-size 4: none of egemaps takes it"),
])
def test_bad_option_is_one_line_naming_it_before_any_model_loads(media, tmp_path, args, words):
    """hubert has no weights here: had it loaded, the error would be about its weights."""
    r = narrow.invoke(app, ["extract", str(media["cfr"]), *args, "--out", str(tmp_path / "s.zarr")])
    assert r.exit_code == 2, r.output
    assert _error_line(r.output).startswith(words), r.output
    assert not (tmp_path / "s.zarr").exists()


def test_bad_inputs_are_reported_before_any_model_loads(media, tmp_path):
    """Every input bad: each named on one line, and hubert (no weights here) never loads."""
    missing = tmp_path / ("deep/" * 12) / "missing.mp4"  # a long path, at 40 columns
    r = narrow.invoke(app, ["extract", str(missing), str(media["empty"]), "--model", "hubert",
                            "--out", str(tmp_path / "s.zarr")])
    assert r.exit_code == 1, r.output
    lines = r.output.splitlines()
    assert f"problem: {missing}: file not found" in lines
    assert f"problem: {media['empty']}: file is empty" in lines
    assert "weights" not in r.output and "0 track(s) extracted" in r.output


def test_missing_input_answers_without_loading_store_or_model_libraries(tmp_path):
    """What made `featurizer extract missing.mp4` take ~10 s: models (torch ...) loading before the
    inputs were looked at, and zarr imported at start. Neither happens now (bench: see report)."""
    code = ("import sys; from featurizer.cli import main; sys.argv = ['featurizer', 'extract', "
            f"{str(tmp_path / 'missing.mp4')!r}, '--out', {str(tmp_path / 's.zarr')!r}]\n"
            "try:\n    main()\nexcept SystemExit as e:\n    print('exit', e.code)\n"
            "print('loaded', [m for m in ('zarr', 'torch', 'opensmile', 'transformers', 'timm') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "COLUMNS": "40"})
    assert f"problem: {tmp_path / 'missing.mp4'}: file not found" in out.stdout.splitlines(), out
    assert "exit 1" in out.stdout and "loaded []" in out.stdout, out.stdout
    assert not (tmp_path / "s.zarr").exists()
