"""A small EXPR + VA + AU bundle for tests of what serves it: featurizer's demo corpus (4 videos of
2 s), audio features only (no face needed), a tiny LSTM (causal: live rows equal offline ones),
``exprnet bundle`` fitting its VA/AU post-processing."""

from __future__ import annotations

from pathlib import Path


def small_multitask_bundle(d: Path) -> Path:
    from exprnet.cli import app as exprnet_app
    from featurizer.cli import app as featurizer_app
    from typer.testing import CliRunner

    labels = ["--labels", d / "data" / "annotations", "--labels", d / "data" / "VA_Set", "--labels",
              d / "data" / "AU_Set"]
    for app, *args in (
            (featurizer_app, "demo-data", d / "data", "--videos", "4", "--seconds", "2"),
            (featurizer_app, "extract", d / "data" / "videos", "--model", "fbank", "--out", d / "f.zarr", *labels[:2]),
            (exprnet_app, "train", "--store", d / "f.zarr", *labels, "--features", "fbank", "--encoder", "lstm",
             "--d-model", "8", "--hidden", "8", "--segment", "8", "--set", "model.head=[8]", "--epochs", "1",
             "--device", "cpu", "--no-baseline", "--set", "data.normalize=train", "--out", d / "run"),
            (exprnet_app, "bundle", d / "run", "--store", d / "f.zarr", *labels, "--out", d / "B", "--device", "cpu")):
        r = CliRunner().invoke(app, [str(a) for a in args])
        assert r.exit_code == 0, f"{' '.join(map(str, args[:2]))} failed: {r.output}"
    return d / "B"
