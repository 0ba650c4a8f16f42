"""The starter bundle through the command lines a new user types, offline: `featurizer demo-data
--portrait` makes a clip of a real smiling face (the astronaut photograph, with eSpeak speech),
`exprnet bundle --pretrained fer` makes the bundle with no training data, `exprnet infer` writes
the per-frame table and timeline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from exprnet.cli import app as exprnet_app
from exprnet.deploy.outputs import read_csv
from featurizer.cli import app as featurizer_app
from typer.testing import CliRunner


def test_starter_bundle_from_the_clis_says_happiness_on_a_smiling_face(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # nothing may come from a hub
    runner = CliRunner()
    r = runner.invoke(featurizer_app, ["demo-data", str(tmp_path / "data"), "--videos", "1", "--seconds", "1",
                                       "--heldout", "0", "--portrait"])
    assert r.exit_code == 0, r.output
    clip = tmp_path / "data" / "portrait" / "astronaut.mp4"
    assert clip.is_file() and "with speech" in r.output
    r = runner.invoke(exprnet_app, ["bundle", "--pretrained", "fer", "--out", str(tmp_path / "B")])
    assert r.exit_code == 0, r.output
    assert "never trained on Aff-Wild2" in r.output and (tmp_path / "B" / "MODEL_CARD.md").is_file()
    r = runner.invoke(exprnet_app, ["infer", str(clip), "--bundle", str(tmp_path / "B"), "--out", str(tmp_path / "P")])
    assert r.exit_code == 0, r.output
    t = read_csv(tmp_path / "P" / "astronaut.csv")
    assert len(t["frame"]) == 150 and np.mean(t["face"]) > 0.9
    happy = np.mean(np.array(t["expression"]) == "Happiness")
    assert happy >= 0.8, happy
    assert "Other" not in set(t["expression"])
    assert (tmp_path / "P" / "astronaut.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
