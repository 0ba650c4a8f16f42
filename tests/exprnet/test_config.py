import pytest
from exprnet.cli import make_config
from exprnet.config import ENCODER_DEFAULTS, build_config, parse_set
from exprnet.config.presets import list_presets, load_preset, preset_names
from exprnet.errors import ConfigError

KNOWN = {"densenet", "mae", "ires100", "fau", "mobilenet", "egemaps", "compare", "fbank", "vggish",
         "wav2vec", "ecapatdnn", "hubert", "hog"}


def test_defaults():
    """The library's defaults (chosen by bench/learning*.py, docs/learning.md); paper presets set theirs."""
    cfg = build_config().resolved()
    t, m = cfg.train, cfg.model
    assert (t.lr, t.epochs, t.batch_size, t.schedule, t.warmup, cfg.loss.alpha, cfg.loss.rdrop) == (
        1e-3, 25, 8, "cosine", 0.05, 1.0, True)
    assert (cfg.loss.class_weights, cfg.data.normalize, cfg.smooth.kind, cfg.smooth.width) == (
        "balanced", "track", "box", "auto")
    assert m.head == [128] and m.encoder == "lstm" and m.stride == m.segment
    tr = build_config({"model": {"encoder": "transformer"}}).resolved().model
    assert (tr.layers, tr.heads, tr.d_model, tr.dropout, tr.segment, tr.norm_first) == (2, 4, 128, 0.3, 128, True)
    assert tr.infer_stride == 64 and ENCODER_DEFAULTS["transformer"]["segment"] == 128


def test_parse_set():
    d = parse_set(["model.dropout=0.1", "data.features=[a, b]", "loss.class_weights=balanced",
                   "train.grad_clip="])
    assert d == {"model": {"dropout": 0.1}, "data": {"features": ["a", "b"]},
                 "loss": {"class_weights": "balanced"}, "train": {"grad_clip": None}}
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_set(["model.dropout"])


def test_precedence_preset_file_flags_set(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("model: {d_model: 96, hidden: 80}\ntrain: {epochs: 4, lr: 0.01}\n")
    cfg = make_config("demo", f, ["train.lr=0.5"], "runs/x", epochs=7, features="a,b")
    assert cfg.model.d_model == 96 and cfg.model.hidden == 80  # file over preset
    assert cfg.train.epochs == 7  # flag over file
    assert cfg.train.lr == 0.5  # --set over everything
    assert cfg.data.features == ["a", "b"] and cfg.model.segment == 32  # preset kept
    assert cfg.name == "demo"


def test_unknown_and_invalid_keys_are_named():
    with pytest.raises(ConfigError, match="model.dropuot"):
        build_config({"model": {"dropuot": 0.1}})
    with pytest.raises(ConfigError, match="loss.class_weights"):
        build_config({"loss": {"class_weights": [1, 2]}})
    with pytest.raises(ConfigError, match="stride"):
        build_config({"model": {"encoder": "lstm", "segment": 32, "stride": 16}})
    with pytest.raises(ConfigError, match="heads"):
        build_config({"model": {"encoder": "transformer", "d_model": 30, "heads": 4}}).resolved()


def test_every_preset_is_valid():
    names = preset_names()
    assert "demo" in names and "demo-transformer" in names
    for table in (1, 3, 4):
        assert any(n.startswith(f"t{table}-") for n in names)
    for p in list_presets():
        cfg = build_config(load_preset(p["name"]), source=p["name"]).resolved()
        assert set(cfg.data.features) <= KNOWN, p["name"]
        assert cfg.name == p["name"]
        if p["name"].startswith("t"):
            assert cfg.paper and cfg.paper["table"] in (1, 3, 4)
    demo = build_config(load_preset("demo"))
    assert demo.data.features == ["egemaps", "compare", "fbank", "hog"]
