"""The package-level Python API (featurizer.list_models / create_extractor / extract / open_store)
is the CLI's own code path: the same names, models, store and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import featurizer
import pytest
from featurizer.cli import app
from featurizer.extraction.executors import LocalExecutor
from featurizer.extraction.job import ExtractJob
from featurizer.extraction.pipeline import run_job
from featurizer.models.registry import specs as registry_specs
from featurizer.models.runtime import Runtime
from typer.testing import CliRunner

from .conftest_deep import *  # noqa: F403
from .stores import assert_same_store

wide = CliRunner(env={"COLUMNS": "250"})
MODELS = "hubert,fbank"


@pytest.fixture(scope="module")
def cli_store(media, hubert_dir, tmp_path_factory) -> str:
    """``featurizer extract clip.mp4 --model hubert,fbank --weights hubert=TINY`` (the reference)."""
    out = str(tmp_path_factory.mktemp("cli") / "cli.zarr")
    r = wide.invoke(app, ["extract", str(media["cfr"]), "--model", MODELS, "--weights", f"hubert={hubert_dir}",
                          "--out", out])
    assert r.exit_code == 0, r.output
    return out


def test_list_models_is_the_registry_listing():
    names = featurizer.list_models()
    rows = json.loads(wide.invoke(app, ["models", "--json"]).output)
    assert names == [r["name"] for r in rows] == [s.name for s in registry_specs()]
    assert {"egemaps", "fbank", "hog", "hubert", "wav2vec"} <= set(names)
    audio, visual = featurizer.list_models(modality="audio"), featurizer.list_models(modality="visual")
    assert audio and visual and sorted(audio + visual) == sorted(names)
    assert all(r["modality"] == "audio" for r in rows if r["name"] in audio)
    assert featurizer.list_models("HU*") == ["hubert"]  # a glob, case-insensitive
    assert featurizer.list_models("wav2vec*", modality="audio")[0] == "wav2vec"
    assert featurizer.list_models("*", modality="visual") == visual
    assert featurizer.list_models("nosuch*") == []
    with pytest.raises(featurizer.UnknownModelError, match=r"^modality 'video': is not audio or visual$"):
        featurizer.list_models(modality="video")


def test_create_extractor_is_the_model_the_cli_runs(media, hubert_dir, cli_store, tmp_path):
    ex = featurizer.create_extractor("hubert", weights=hubert_dir)
    fb = featurizer.create_extractor("fbank")  # takes no device: the default "auto" is left out
    assert (ex.name, ex.modality, ex.weights_kind, ex.layer) == ("hubert", "audio", "user", "cnn")
    cli_model = Runtime({"hubert": str(hubert_dir)}).create("hubert")
    assert ex.provenance() == cli_model.provenance()

    class Given:  # a model source handing the run these very objects
        def extractors(self, names, runtime):
            return [{"hubert": ex, "fbank": fb}[n] for n in names]

    out = str(tmp_path / "given.zarr")
    job = ExtractJob.of([media["cfr"]], MODELS, out, runtime=Runtime({"hubert": str(hubert_dir)}))
    assert run_job(job, LocalExecutor(models=Given())).ok
    assert_same_store(cli_store, out)  # the same rows, row for row, as the command's own models

    last = featurizer.create_extractor("hubert:last", weights=str(hubert_dir), batch_size="2", precision="fp32")
    assert (last.name, last.layer, last.batch_size, last.precision) == ("hubert:last", "last", 2, "fp32")


def test_extract_writes_the_commands_store_quietly(media, hubert_dir, cli_store, tmp_path, capfd):
    out = tmp_path / "api.zarr"
    s = featurizer.extract(media["cfr"], MODELS.split(","), out, weights={"hubert": hubert_dir})
    assert capfd.readouterr() == ("", "")  # no progress bars, no table
    assert s.ok and s.out == str(out) and not s.problems
    assert s.videos == {str(media["cfr"]): "done"}
    assert {t: sorted(m) for t, m in s.written.items()} == {"clip": ["fbank", "hubert"]}
    assert [(r.track, r.status, r.frames) for r in s.results] == [("clip", "done", 50)]
    assert str(s).startswith("1 track(s) extracted, 0 already complete, 0 failed, 0 input problem(s); 50 frames")
    assert_same_store(cli_store, str(out))
    assert s.store().read_feature("clip", "hubert").values.shape == (50, 16)

    again = featurizer.extract([media["cfr"]], MODELS, out, weights=[f"hubert={hubert_dir}"])  # CLI forms
    assert again.ok and again.videos == {str(media["cfr"]): "skipped"} and again.written == {}


def test_extract_reports_inputs_and_warnings_instead_of_raising(media, tmp_path, capfd):
    missing = tmp_path / "missing.mp4"
    s = featurizer.extract([missing, media["noaudio"]], "fbank", tmp_path / "s.zarr", device="cpu",
                           options={"fbank": {}})
    assert not s.ok and s.problems == {str(missing): "file not found"}
    assert s.videos == {str(media["noaudio"]): "done"}
    assert any("silent.mp4: no audio stream" in w for w in s.warnings), s.warnings
    assert capfd.readouterr() == ("", "")
    nothing = featurizer.extract([missing], "fbank", tmp_path / "none.zarr")
    assert not nothing.results and not Path(tmp_path / "none.zarr").exists()


@pytest.mark.parametrize("call,words", [
    (lambda: featurizer.create_extractor("nosuch"), "nosuch: unknown extractor (known: "),
    (lambda: featurizer.create_extractor("hubert", dropout=0.1),
     "hubert option dropout: hubert takes no option 'dropout' (it takes: weights, device, batch_size"),
    (lambda: featurizer.create_extractor("egemaps", precision="bf16"), "--precision bf16: none of egemaps takes it"),
    (lambda: featurizer.create_extractor("egemaps", device="cuda"), "--device cuda: none of egemaps takes it"),
    (lambda: featurizer.create_extractor("fbank:x"), "fbank:x: fbank has no variants (use fbank)"),
    (lambda: featurizer.create_extractor("hubert", precision="fp8"), "--precision fp8: unknown precision"),
    (lambda: featurizer.extract("v.mp4", "fbank,nosuch", "s.zarr"), "nosuch: unknown extractor"),
    (lambda: featurizer.extract("v.mp4", "fbank", "s.zarr", options=["fbank.hop"]),
     "--option fbank.hop: expected NAME=VALUE"),
    (lambda: featurizer.extract("v.mp4", "fbank", "s.zarr", options={"hubert": {"layer": "last"}}),
     "--option hubert.layer=...: hubert is not among the selected models (fbank)"),
    (lambda: featurizer.extract("v.mp4", "fbank", "s.zarr", options={"fbank": 3}),
     "options['fbank']: expected a mapping"),
    (lambda: featurizer.extract("v.mp4", "fbank", "s.zarr", executor="dask"), "--executor dask: unknown executor"),
    (lambda: featurizer.extract("v.mp4", "fbank", "s.zarr", dtype="int8"), "--dtype int8: is not float16 or float32"),
])
def test_bad_names_and_options_raise_one_line(call, words, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(featurizer.FeaturizerError) as e:
        call()
    assert str(e.value).startswith(words), str(e.value)
    assert "\n" not in str(e.value)
    assert not (tmp_path / "s.zarr").exists()


def test_option_errors_are_the_commands_words(tmp_path):
    with pytest.raises(featurizer.UnknownModelError) as e:
        featurizer.create_extractor("hubert", batch_size="x")
    r = wide.invoke(app, ["extract", str(tmp_path / "v.mp4"), "--model", "hubert", "--option", "hubert.batch_size=x",
                          "--out", str(tmp_path / "s.zarr")])
    assert r.exit_code == 2 and f"error: {e.value}" in r.output.splitlines(), (str(e.value), r.output)
