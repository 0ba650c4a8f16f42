"""The paper's rows as presets, and the paper's model and data handling in paper presets."""

import re

import numpy as np
import pytest
import torch
from exprnet.config import build_config
from exprnet.config.presets import list_presets, load_preset
from exprnet.data.bank import Standardizer, load_bank
from exprnet.data.batches import BatchBuilder
from exprnet.data.segments import Segment, inference_plan, shuffled_segments, stream_plan
from exprnet.models import build_model
from exprnet.models.inference import predict_probs
from exprnet.paper.tables import model_rows, paper_rows, table_rows
from featurizer.core.store import FeatureStore
from torch import nn

PAPER_FEATURES = {"densenet", "mae", "ires100", "fau", "mobilenet", "egemaps", "compare", "fbank", "vggish",
                  "wav2vec", "ecapatdnn", "hubert"}


def paper_presets():
    return [p for p in list_presets() if p["paper"]]


def test_every_table_row_has_its_preset_and_every_paper_preset_a_row():
    rows = model_rows()
    assert [len([r for r in rows if r.table == t]) for t in "134"] == [8, 9, 6]
    presets = {p["name"]: p for p in paper_presets()}
    for r in rows:  # table -> preset
        p = presets[f"t{r.table}-r{r.row}"]
        assert p["paper"] == {"table": int(r.table), "row": int(r.row), "f1": r.f1}, p["name"]
        assert p["features"] == r.features and p["encoder"] == r.encoder, p["name"]
    for name, p in presets.items():  # preset -> table
        match = [r for r in rows if (int(r.table), int(r.row)) == (p["paper"]["table"], p["paper"]["row"])]
        assert len(match) == 1 and match[0].preset == name and set(p["features"]) <= PAPER_FEATURES
    assert len(presets) == 23
    # no other preset looks like a paper row
    assert {p["name"] for p in list_presets() if re.fullmatch(r"t\d+-r\d+.*", p["name"])} == set(presets)


def test_paper_table_data():
    assert [r.f1 for r in table_rows("2")] == [0.43697, 0.38015, 0.35646, 0.39170, 0.38146, 0.38935]
    assert np.mean([r.f1 for r in table_rows("2")[:5]]) == pytest.approx(0.38935, abs=1e-5)
    ens = [r for r in paper_rows() if r.row == "ensemble"]
    assert len(ens) == 1 and ens[0].f1 == 0.45774 and ens[0].table == "3"
    assert len(paper_rows()) == 8 + 6 + 10 + 6


@pytest.mark.parametrize("name", [p["name"] for p in paper_presets()])
def test_paper_presets_use_the_authors_settings(name):
    cfg = build_config(load_preset(name)).resolved()
    t, m, d = cfg.train, cfg.model, cfg.data
    assert (t.lr, t.weight_decay, t.step_size, t.gamma, t.batch_size, t.epochs, t.amp) == (
        1e-4, 1e-5, 20, 0.1, 8, 25, False)
    assert t.seed in (3407, 13407) and (t.seed == 13407) == (name in ("t3-r6", "t3-r8"))
    assert (d.unlabelled, d.pad, m.fusion, m.fusion_bias, m.pos_dropout) == ("drop", "repeat", "linear", False, False)
    assert m.segment == 128 and m.infer_stride == 128 and m.dropout == 0.3 and m.head == [512, 256]
    assert (cfg.loss.rdrop, cfg.loss.alpha) == (True, 5.0)
    # exprnet's own defaults for learning (docs/learning.md) are off: the authors trained without them
    assert (t.optimizer, t.schedule, t.warmup, t.grad_clip, t.steps, t.patience, t.segment_jitter, t.sampling) == (
        "adam", "step", 0.0, None, None, None, False, "uniform")
    assert (d.normalize, d.feature_dropout, d.modality_dropout) == ("train", 0.0, 0.0)
    assert (cfg.loss.class_weights, cfg.loss.logit_adjust, cfg.loss.focal_gamma, cfg.loss.label_smoothing) == (
        "none", 0.0, 0.0, 0.0)
    assert cfg.smooth.kind == "none" and m.norm_first is False


def dropouts_outside_encoder_layers(net):
    inside = {id(mod) for layer in net.modules() if isinstance(layer, nn.TransformerEncoderLayer)
              for mod in layer.modules()}
    return [n for n, mod in net.named_modules() if isinstance(mod, nn.Dropout) and mod.p > 0 and id(mod) not in inside]


@pytest.mark.parametrize("name", ["t1-r1", "t1-r8"])
def test_paper_model_one_linear_fusion_and_dropout_only_in_the_encoder(name):
    cfg = build_config(load_preset(name)).resolved()
    net = build_model(100, cfg.model)
    fusion = [mod for mod in net.fusion.modules() if not isinstance(mod, nn.Identity) and mod is not net.fusion]
    assert len(fusion) == 1 and isinstance(fusion[0], nn.Linear) and fusion[0].bias is None
    assert (fusion[0].in_features, fusion[0].out_features) == (100, 1024)
    assert dropouts_outside_encoder_layers(net) == []
    if cfg.model.encoder == "lstm":
        assert (net.encoder.lstm.num_layers, net.encoder.lstm.dropout, net.encoder.lstm.hidden_size) == (2, 0.3, 512)
    else:
        layers = [mod for mod in net.modules() if isinstance(mod, nn.TransformerEncoderLayer)]
        assert len(layers) == 4 and all(layer.dropout.p == 0.3 for layer in layers)
    x = torch.randn(1, 5, 100)
    net.fusion.train()
    assert torch.equal(net.fusion(x), x @ fusion[0].weight.T)  # eq. 1: W x, nothing after it
    default = build_model(100, build_config({"model": {"encoder": cfg.model.encoder}}).resolved().model)
    assert dropouts_outside_encoder_layers(default)  # exprnet's default keeps its fusion/head dropout


def small_paper(encoder, segment=16):
    return build_config(load_preset("t1-r1" if encoder == "transformer" else "t1-r8"),
                        {"model": {"d_model": 32, "hidden": 32, "layers": 1, "heads": 4, "head": [16],
                                   "segment": segment, "infer_stride": segment}}).resolved()


def bank_of(corpus, tracks=None):
    tracks = tracks or sorted(corpus.tracks)
    bank = load_bank(FeatureStore(corpus.store, mode="r"), list(corpus.features), tracks, corpus.label_arrays)
    return bank, Standardizer.fit(bank, range(len(tracks)))


def test_paper_transformer_predicts_on_non_overlapping_segments(small):
    cfg = small_paper("transformer")
    bank, stats = bank_of(small)
    torch.manual_seed(0)
    net = build_model(bank.dim, cfg.model).eval()
    builder = BatchBuilder(bank, stats, 16, pad="repeat")  # all frames (test-like), last one repeated
    probs = predict_probs(net, builder, bank, range(len(bank.tracks)), cfg.model, 4, torch.device("cpu"))
    for i in range(len(bank.tracks)):
        x = (bank.values[bank.rows(i)].astype(np.float32) - stats.mean) / stats.std
        n, want = len(x), []
        for a in range(0, n, 16):  # an independent cut: back to back, the last padded by repetition
            seg = x[a:a + 16]
            seg = np.concatenate([seg, np.repeat(seg[-1:], 16 - len(seg), 0)])
            with torch.no_grad():
                logits, _ = net(torch.from_numpy(seg)[None], torch.ones(1, 16, dtype=torch.bool))
            want.append(torch.softmax(logits[0], -1).numpy()[: min(16, n - a)])
        np.testing.assert_allclose(probs[i], np.concatenate(want), atol=2e-5)
    plan = inference_plan({0: 100}, 4, 16, 16)
    starts = [s.start for step in plan for s in step]
    assert starts == list(range(0, 100, 16))  # no overlap
    assert [s.start for step in inference_plan({0: 100}, 4, 16, 8) for s in step][-1] == 84  # exprnet's overlap


@pytest.mark.parametrize("mode", ["drop", "context"])
def test_unlabelled_frames_dropped_in_paper_mode_kept_in_context_mode(small, mode):
    bank, stats = bank_of(small)
    builder = BatchBuilder(bank, stats, 16, unlabelled=mode, pad="repeat" if mode == "drop" else "mask")
    lengths = {i: builder.length(i) for i in range(len(bank.tracks))}
    seen = np.zeros(bank.n_frames, int)
    for plan in (stream_plan(lengths, 3, 16, np.random.default_rng(0)),
                 shuffled_segments(lengths, 3, 16, 16, np.random.default_rng(0))):
        seen[:] = 0
        for step in plan:
            batch = builder.build(step)
            for k, s in enumerate(step):
                if s is None:
                    continue
                rows = np.arange(bank.n_frames)[builder.rows(s)]
                seen[rows] += 1
                n = s.length
                assert torch.equal(batch.y[k, :n], torch.from_numpy(bank.labels[rows].astype(np.int64)))
                if mode == "drop" and n < 16:  # the last segment: its final frame repeated, as real rows
                    assert batch.mask[k].all() and (batch.x[k, n:] == batch.x[k, n - 1]).all()
                    assert (batch.y[k, n:] == batch.y[k, n - 1]).all()
        labelled = bank.labels >= 0
        assert (~labelled).sum() > 50  # the corpus has -1 runs
        if mode == "drop":
            assert (seen[labelled] == 1).all() and (seen[~labelled] == 0).all()
        else:
            assert (seen == 1).all()


def test_drop_mode_segments_are_cut_after_dropping(small):
    bank, stats = bank_of(small)
    builder = BatchBuilder(bank, stats, 16, unlabelled="drop")
    i = next(i for i in range(len(bank.tracks)) if (bank.track_labels(i) < 0).any())
    rows = np.flatnonzero(bank.track_labels(i) >= 0)
    assert builder.length(i) == len(rows)
    first = builder.build([Segment(i, 0, 16, True)])
    want = (bank.values[bank.rows(i)][rows[:16]].astype(np.float32) - stats.mean) / stats.std
    np.testing.assert_allclose(first.x[0].numpy(), want, atol=1e-5)  # 16 labelled frames, -1 ones skipped
