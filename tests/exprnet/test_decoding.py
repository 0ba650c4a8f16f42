"""Structured post-processing: Viterbi and HSMM against brute-force enumeration, the chain fitted
from label sequences, temperature scaling against direct minimisation, processors as dicts,
track boundaries and -1 frames, and ``auto`` blind to the validation labels."""

import itertools
import json

import numpy as np
import pytest
from exprnet.baseline.fit import evaluate_baseline, write_baseline_run
from exprnet.config import BaselineConfig
from exprnet.errors import ConfigError
from exprnet.postprocess.calibration import Calibration, ece, fit_calibration
from exprnet.postprocess.chain import label_runs, transition_counts, transition_matrix
from exprnet.postprocess.choice import apply_all, chain_dicts, fit_spec
from exprnet.postprocess.decoding import DecodeSpec, choose_decoder, parse
from exprnet.postprocess.hmm import HMMDecoder, fit_hmm
from exprnet.postprocess.hmm_inference import posteriors, viterbi
from exprnet.postprocess.hsmm import HSMMDecoder, fit_hsmm
from exprnet.postprocess.priors import log_emissions
from exprnet.postprocess.processor import processor_from_dict
from exprnet.prediction.predict import predict
from exprnet.training.experiment import prepare
from scipy.optimize import minimize, minimize_scalar
from scipy.special import log_softmax, logsumexp

from .conftest import config_for


def random_chain(rng, c, stay=0.8):
    trans = rng.dirichlet(np.ones(c), c) * (1 - stay) + np.eye(c) * stay
    trans /= trans.sum(1, keepdims=True)
    return rng.dirichlet(np.ones(c)), trans


def path_score(path, le, log_init, log_trans):
    return log_init[path[0]] + le[0, path[0]] + sum(log_trans[path[t - 1], path[t]] + le[t, path[t]]
                                                     for t in range(1, len(path)))


def brute(le, log_init, log_trans):
    """Every class path: the best one's score and each frame's marginal."""
    n, c = le.shape
    paths = np.array(list(itertools.product(range(c), repeat=n)))
    scores = np.array([path_score(p, le, log_init, log_trans) for p in paths])
    w = np.exp(scores - logsumexp(scores))
    marg = np.zeros((n, c))
    for t in range(n):
        np.add.at(marg[t], paths[:, t], w)
    return scores.max(), marg


def test_viterbi_and_marginals_equal_brute_force_enumeration():
    rng = np.random.default_rng(0)
    c = 3
    init, trans = random_chain(rng, c)
    lengths = [1, 2, 5, 7, 0, 6]
    le = [rng.normal(size=(n, c)) * 1.5 for n in lengths]
    paths = viterbi(le, init, trans)
    post = posteriors(le, init, trans)
    assert [len(p) for p in paths] == [len(q) for q in post] == lengths
    for x, p, q in zip(le, paths, post, strict=True):
        if not len(x):
            continue
        best, marg = brute(x, np.log(init), np.log(trans))
        assert path_score(p, x, np.log(init), np.log(trans)) == pytest.approx(best, abs=1e-9)
        np.testing.assert_allclose(q, marg, atol=1e-9)


def plain_forward_backward(le, init, trans):
    """The textbook scaled recursion, one frame at a time."""
    e = np.exp(le - le.max(1, keepdims=True))
    a = np.zeros_like(e)
    a[0] = init * e[0] / (init * e[0]).sum()
    for t in range(1, len(e)):
        a[t] = (a[t - 1] @ trans) * e[t]
        a[t] /= a[t].sum()
    b = np.ones(len(init))
    out = a.copy()
    for t in range(len(e) - 1, 0, -1):
        out[t] *= b
        b = trans @ (e[t] * b)
        b /= b.sum()
    out[0] *= b
    return out / out.sum(1, keepdims=True)


def test_viterbi_over_eight_classes_and_a_plain_loop():
    rng = np.random.default_rng(1)
    init, trans = random_chain(rng, 8, 0.9)
    x = rng.normal(size=(4, 8))
    best, marg = brute(x, np.log(init), np.log(trans))
    p = viterbi([x], init, trans)[0]
    assert path_score(p, x, np.log(init), np.log(trans)) == pytest.approx(best, abs=1e-9)
    np.testing.assert_allclose(posteriors([x], init, trans)[0], marg, atol=1e-9)
    # long tracks, side by side: each the plain frame-by-frame recursion's score and marginals
    many = [rng.normal(size=(n, 8)) * 3 for n in (3000, 1, 5, 300, 77, 1200, 2)]
    paths, post = viterbi(many, init, trans), posteriors(many, init, trans)
    for x, p, q in zip(many, paths, post, strict=True):
        delta = np.log(init) + x[0]
        for t in range(1, len(x)):
            delta = (delta[:, None] + np.log(trans)).max(0) + x[t]
        assert path_score(p, x, np.log(init), np.log(trans)) == pytest.approx(delta.max(), rel=1e-12)
        np.testing.assert_allclose(q, plain_forward_backward(x, init, trans), atol=1e-10)


def hsmm_score(path, le, dec):
    """Log-score of one class path under ``dec`` (each run of a class is one segment)."""
    c, dm = dec.hazard.shape
    s, d = np.log(dec.initial[path[0]]) + le[0, path[0]], 0
    for t in range(1, len(path)):
        a, b = path[t - 1], path[t]
        if a == b:
            s += np.log1p(-dec.hazard[a, d])
            d = min(d + 1, dm - 1)
        else:
            s += np.log(dec.hazard[a, d]) + np.log(dec.switch[a, b])
            d = 0
        s += le[t, b]
    return s


def test_hsmm_equals_brute_force_enumeration():
    rng = np.random.default_rng(2)
    c, dm = 3, 3
    labels = [rng.integers(0, c, 40).repeat(rng.integers(1, 6)) for _ in range(6)]
    dec = fit_hsmm(labels, np.full(c, 1 / c), 0.7, d_max=dm)
    assert np.all(np.diag(dec.switch) == 0)
    tracks = [rng.dirichlet(np.ones(c), n) for n in (1, 3, 6, 7)]
    out = dec.apply_many(tracks)
    for p, d in zip(tracks, out, strict=True):
        le = log_emissions(p, dec.prior, dec.weight)
        paths = list(itertools.product(range(c), repeat=len(p)))
        scores = np.array([hsmm_score(q, le, dec) for q in paths])
        assert hsmm_score(d.labels, le, dec) == pytest.approx(scores.max(), abs=1e-9)
        w = np.exp(scores - logsumexp(scores))
        marg = np.zeros((len(p), c))
        for t in range(len(p)):
            np.add.at(marg[t], np.array(paths)[:, t], w)
        np.testing.assert_allclose(d.probs, marg, atol=1e-6)


def sample_chain(rng, init, trans, n):
    y = np.empty(n, np.int64)
    y[0] = rng.choice(len(init), p=init)
    u = rng.random(n)
    cum = np.cumsum(trans, 1)
    for t in range(1, n):
        y[t] = min(int(np.searchsorted(cum[y[t - 1]], u[t])), len(init) - 1)
    return y


def test_hmm_parameters_are_recovered_from_sequences_of_a_known_chain():
    rng = np.random.default_rng(3)
    _, trans = random_chain(rng, 8, 0.95)
    w, v = np.linalg.eig(trans.T)
    stationary = np.real(v[:, np.argmin(np.abs(w - 1))])
    stationary /= stationary.sum()
    seqs = [sample_chain(rng, stationary, trans, 5000) for _ in range(40)]
    dec = fit_hmm(seqs, np.full(8, 1 / 8), 1.0)
    np.testing.assert_allclose(dec.transition, trans, atol=0.01)
    np.testing.assert_allclose(np.diag(dec.transition), np.diag(trans), atol=0.005)
    np.testing.assert_allclose(dec.initial, stationary, atol=0.02)
    # and the duration hazards of the hsmm: a geometric run ends with probability 1 - stay
    hz = fit_hsmm(seqs, np.full(8, 1 / 8), 1.0).hazard
    np.testing.assert_allclose(hz[:, :8].mean(1), 1 - np.diag(trans), atol=0.015)


def test_chain_never_joins_across_minus_one_or_tracks():
    y = np.array([0, 0, 0, -1, -1, 1, 1, 2])
    counts = transition_counts([y, np.array([2, 2, 5])])
    assert counts[0, 1] == 0 and counts[1, 2] == 1 and counts[2, 5] == 1 and counts[2, 2] == 1
    assert counts.sum() == 4 + 2  # 0-0, 0-0, 1-1, 1-2; 2-2, 2-5
    runs = label_runs([y])
    assert runs.classes.tolist() == [0, 1, 2] and runs.lengths.tolist() == [3, 2, 1]
    assert runs.censored.tolist() == [True, True, True]  # cut by the start, the -1s, the end
    np.testing.assert_allclose(transition_matrix([y]).sum(1), 1.0)


def test_decoding_respects_track_boundaries():
    """Tracks decoded together equal each decoded alone, and each restarts from the initial state."""
    rng = np.random.default_rng(4)
    seqs = [rng.integers(0, 8, 30).repeat(10) for _ in range(5)]
    tracks = [rng.dirichlet(np.ones(8) * 0.5, n) for n in (1, 17, 250, 90, 3)]
    for dec in (fit_hmm(seqs, np.full(8, 1 / 8), 0.5), fit_hsmm(seqs, np.full(8, 1 / 8), 0.5)):
        together = dec.apply_many(tracks)
        for p, d in zip(tracks, together, strict=True):
            alone = dec.apply(p)
            np.testing.assert_array_equal(alone.labels, d.labels)
            np.testing.assert_allclose(alone.probs, d.probs, atol=1e-6)
            np.testing.assert_allclose(d.probs.sum(1), 1.0, atol=1e-5)
    # a sticky chain: one track's confident end does not carry into the next track's start
    dec = HMMDecoder(np.full(8, 1 / 8), 0.99 * np.eye(8) + 0.01 / 8, np.full(8, 1 / 8), 1.0)
    a, b = np.full((50, 8), 0.01), np.full((3, 8), 0.1)
    a[:, 0], b[:, 5] = 0.93, 0.3
    out = dec.apply_many([a / a.sum(1, keepdims=True), b / b.sum(1, keepdims=True)])
    assert out[0].labels.tolist() == [0] * 50 and out[1].labels.tolist() == [5] * 3
    assert dec.apply(np.concatenate([a, b]) / np.concatenate([a, b]).sum(1, keepdims=True)).labels[50:].tolist() == [0] * 3


def test_minus_one_frames_are_decoded_but_never_counted():
    """A model predicts every row, -1 ones too: each gets a label; scoring and fitting skip them."""
    rng = np.random.default_rng(5)
    y = [np.r_[np.zeros(20, int), -np.ones(10, int), np.ones(20, int)]]
    p = [np.clip(np.eye(8)[np.maximum(y[0], 0)] + rng.random((50, 8)) * 0.3, 0, None)]
    p = [q / q.sum(1, keepdims=True) for q in p]
    dec, _ = fit_spec(DecodeSpec("viterbi", 1.0), p, y, ["a"], np.full(8, 1 / 8))
    out = apply_all(dec, p)[0]
    assert len(out.labels) == 50 and out.labels[:20].tolist() == [0] * 20 and out.labels[30:].tolist() == [1] * 20
    cal = fit_calibration(p, y)
    assert np.isfinite(cal.temperature)
    assert ece(p, y) == ece([q[y[0] >= 0] for q in p], [y[0][y[0] >= 0]])


def test_temperature_scaling_equals_direct_minimisation():
    rng = np.random.default_rng(6)
    logits = rng.normal(size=(4000, 8)) * 3
    y = np.array([rng.choice(8, p=q) for q in np.exp(log_softmax(logits / 2.5, axis=1))])
    probs = np.exp(log_softmax(logits, axis=1))
    cal = fit_calibration([probs], [y], "temperature")

    def nll(t):
        return -log_softmax(np.log(probs) / t, axis=1)[np.arange(len(y)), y].mean()

    ref = minimize_scalar(nll, bounds=(0.05, 20), method="bounded", options={"xatol": 1e-8}).x
    assert cal.temperature == pytest.approx(ref, rel=1e-4)
    assert cal.temperature == pytest.approx(2.5, rel=0.1)
    assert ece([probs], [y]) > 0.1 and ece([cal.calibrate(probs)], [y]) < 0.03
    np.testing.assert_array_equal(cal.calibrate(probs).argmax(1), probs.argmax(1))  # a temperature keeps argmax
    # with per-class biases: the class-balanced NLL, minimised without the analytic gradient
    biased = fit_calibration([probs], [y], "bias")
    counts = np.bincount(y, minlength=8)
    w = (len(y) / (8 * counts))[y]

    def wnll(x):
        z = np.log(probs) / np.exp(x[0]) + x[1:]
        return -(w * log_softmax(z, axis=1)[np.arange(len(y)), y]).sum() / w.sum()

    x = minimize(wnll, np.zeros(9), method="Nelder-Mead", options={"maxiter": 20000, "xatol": 1e-7,
                                                                    "fatol": 1e-10}).x
    assert biased.temperature == pytest.approx(np.exp(x[0]), rel=2e-3)
    np.testing.assert_allclose(biased.bias, x[1:] - x[1:].mean(), atol=5e-3)


def test_processors_round_trip_as_dicts():
    rng = np.random.default_rng(7)
    seqs = [rng.integers(0, 8, 20).repeat(8) for _ in range(4)]
    p = rng.dirichlet(np.ones(8), 60)
    cal = Calibration(1.7, rng.normal(size=8))
    for proc in (cal, fit_hmm(seqs, np.full(8, 1 / 8), 0.3, 0.5), fit_hsmm(seqs, np.full(8, 1 / 8), 0.3, 1.0)):
        back = processor_from_dict(json.loads(json.dumps(proc.to_dict())))
        assert type(back) is type(proc) and back.kind == proc.kind
        a, b = proc.apply(p), back.apply(p)
        np.testing.assert_array_equal(a.labels, b.labels)
        np.testing.assert_allclose(a.probs, b.probs, atol=1e-7)
        assert proc.describe()
    dicts = chain_dicts(cal, fit_hmm(seqs, np.full(8, 1 / 8), 0.3))
    assert [d["kind"] for d in dicts] == ["calibration", "viterbi"]
    assert chain_dicts(Calibration(), fit_hmm(seqs, np.full(8, 1 / 8), 0.3))[0]["kind"] == "viterbi"
    with pytest.raises(ConfigError):
        processor_from_dict({"kind": "viterbi", "initial": [0.5, 0.5], "transition": [[1, 1], [0, 1]],
                             "prior": [0.5, 0.5], "weight": 1})


def test_parse_decoders():
    assert parse("viterbi") == DecodeSpec("viterbi") and parse("viterbi:auto").auto
    assert parse("hsmm:0.5") == DecodeSpec("hsmm", 0.5)
    assert parse("box:12").width == 12
    for bad in ("viterbi:-1", "viterbi:x", "crf"):
        with pytest.raises(ConfigError):
            parse(bad)
    with pytest.raises(ConfigError):
        parse("viterbi:optimistic")
    assert parse("viterbi:optimistic", optimistic_ok=True).optimistic


def test_auto_decoder_uses_only_the_tracks_given():
    rng = np.random.default_rng(8)
    labels = [rng.integers(0, 8, 30).repeat(12) for _ in range(6)]
    probs = [np.clip(np.eye(8)[y] * 0.3 + rng.random((len(y), 8)), 0, None) for y in labels]
    probs = [q / q.sum(1, keepdims=True) for q in probs]
    dec, info = choose_decoder("viterbi", probs, labels, [[0, 1], [2, 3], [4, 5]], np.full(8, 1 / 8))
    assert isinstance(dec, HMMDecoder) and info["chosen_on"].startswith("training tracks")
    assert len(info["cv_f1_by_param"]) == 18 and info["cv_f1"] == max(info["cv_f1_by_param"].values())
    with pytest.raises(ConfigError):
        choose_decoder("viterbi", probs, labels, [[0, 1, 2, 3, 4, 5]], np.full(8, 1 / 8))


@pytest.mark.parametrize("kind", ["viterbi", "hsmm"])
def test_auto_decoder_never_reads_the_validation_labels(small, kind, tmp_path):
    cfg = config_for(small, baseline=BaselineConfig().model_dump(), smooth={"kind": kind})
    prep = prepare(cfg)
    bank = prep.bank
    first = evaluate_baseline(cfg, bank, prep.split.train, prep.split.val)
    for i in bank.ids(prep.split.val):  # scramble every validation label
        r = bank.rows(i)
        bank.labels[r] = np.random.default_rng(i).integers(-1, 8, r.stop - r.start)
    second = evaluate_baseline(cfg, bank, prep.split.train, prep.split.val)
    assert first.metrics["smoothing"] == second.metrics["smoothing"]
    assert first.metrics["postprocess"] == second.metrics["postprocess"]
    assert first.metrics["smoothing"]["chosen_on"].startswith("training tracks")
    assert [d["kind"] for d in first.metrics["postprocess"]] == ["calibration", kind]
    assert first.metrics["val_ece_before"] != second.metrics["val_ece_before"]
    assert isinstance(first.post.processor, HMMDecoder if kind == "viterbi" else HSMMDecoder)
    # the run folder records it, and predict replays it exactly (calibration first)
    prep = prepare(cfg)
    run = tmp_path / "run"
    write_baseline_run(cfg, run, first, prep.bank, prep.split.train, prep.split.val)
    cal = json.loads((run / "calibration.json").read_text())
    assert cal["temperature"] == first.post.calibration.temperature and "train_ece_after" in cal
    got = predict(run, str(small.store), prep.split.val, tmp_path / "pred", labels_dir=str(small.labels))
    assert got["smoothing"]["source"] == "recorded by the run"
    assert got["postprocess"] == first.metrics["postprocess"]
    assert got["f1"] == pytest.approx(first.metrics["best_val_f1"], abs=1e-9)
    from exprnet.reports.report import write_report

    page = write_report(run).read_text()
    assert "## Post-processing" in page and "validation ECE" in page and kind in page and "temperature" in page


def test_baseline_cli_and_ensemble_decode_once_as_a_replayable_chain(small, tmp_path):
    """`exprnet baseline --smooth viterbi:auto` twice, then `exprnet ensemble --smooth viterbi:auto`:
    members calibrated, combined, decoded once; metrics.json's postprocess rebuilds the decoder."""
    from exprnet.cli import app
    from exprnet.ensemble.evaluate import run_ensemble
    from typer.testing import CliRunner

    runner = CliRunner()
    runs = []
    for clf, smooth in (("logreg", "viterbi:auto"), ("mlp", "hsmm:0.5")):
        out = tmp_path / clf
        r = runner.invoke(app, ["baseline", "--store", str(small.store), "--labels", str(small.labels),
                                "--features", ",".join(small.features), "--classifier", clf, "--out", str(out),
                                "--smooth", smooth])
        assert r.exit_code == 0, r.output
        assert smooth.split(":")[0] in r.output
        m = json.loads((out / "metrics.json").read_text())
        assert [d["kind"] for d in m["postprocess"]] == ["calibration", smooth.split(":")[0]]
        assert 0 <= m["val_ece_after"] <= 1 and (out / "oof" / "probs.npz").exists()
        runs.append(out)
    m = run_ensemble(runs, "mean", str(small.store), str(small.labels), tmp_path / "ens", smooth_spec="viterbi:auto")
    assert m["smooth"]["kind"] == "viterbi" and m["smooth"]["probabilities"].startswith("out of fold")
    assert [c["kind"] for c in m["calibration"]] == ["calibration", "calibration"]
    post = [processor_from_dict(d) for d in m["postprocess"]]
    assert [p.kind for p in post] == ["calibration", "viterbi"]  # the combination's temperature, then the decoder
    # replay: the members' probabilities calibrated, averaged, decoded by the recorded chain
    val = sorted(t for t, s in small.tracks.items() if s == "Validation_Set")
    members = []
    for run, cal in zip(runs, m["calibration"], strict=True):
        got = predict(run, str(small.store), val, tmp_path / f"p-{run.name}", smooth="none")
        assert got["postprocess"] == []
        c = Calibration.from_dict(cal)
        members.append({t: c.calibrate(np.load(tmp_path / f"p-{run.name}" / "probs" / f"{t}.npy")) for t in val})
    y = np.concatenate([small.label_arrays[t] for t in val])
    labels = [post[1].apply(post[0].apply(np.mean([mm[t] for mm in members], 0)).probs).labels for t in val]
    from exprnet.reports.metrics import macro_f1
    assert macro_f1(y, np.concatenate(labels)) == pytest.approx(m["val_f1"], abs=1e-9)
    opt = run_ensemble(runs, "mean", str(small.store), str(small.labels), tmp_path / "ens2",
                       smooth_spec="viterbi:optimistic", cv_folds=2)
    assert opt["smoothing"]["chosen_on"] == "validation (optimistic)" and opt["fit_on_validation"]
    assert [d["kind"] for d in opt["postprocess"]] == ["viterbi"]
