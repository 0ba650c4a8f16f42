"""The synthetic corpus's VA_Set and AU_Set: written in the three formats, carried by the features."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from exprnet.data.synthetic import CorpusSpec, generate, make_corpus
from exprnet.tasks.baselines import standardize_track
from exprnet.tasks.metrics import ccc
from featurizer.core.annotations import find_annotations, folder_task, read_labels

SPEC = CorpusSpec(n_tracks=10, frames=8000, visual_dim=32, audio_dim=4, seed=5)


def test_task_folders_round_trip(tmp_path):
    c = make_corpus(tmp_path, SPEC)
    assert folder_task(c.va_labels) == "va" and folder_task(c.au_labels) == "au" and folder_task(c.labels) == "expr"
    for d, arrays in ((c.va_labels, c.va_arrays), (c.au_labels, c.au_arrays)):
        files = find_annotations(d)
        assert set(files) == set(arrays) and {f.split for f in files.values()} == {"Train_Set", "Validation_Set"}
        for t, f in files.items():
            got = read_labels(f.path).values
            if got.dtype.kind == "f":
                np.testing.assert_allclose(got, arrays[t], atol=1e-5)
            else:
                np.testing.assert_array_equal(got, arrays[t])
        every = np.concatenate(list(arrays.values()))
        if every.dtype.kind == "f":  # annotated and unannotated (NaN) rows
            assert np.isnan(every).any(axis=1).any() and (~np.isnan(every).any(axis=1)).any()
        else:
            assert set(np.unique(every)) == {-1, 0, 1}


def test_tasks_leave_expr_alone_and_show_in_features():
    with_tasks = list(generate(SPEC))
    without = list(generate(replace(SPEC, task_gain=0.0)))
    for a, b in zip(with_tasks, without, strict=True):
        np.testing.assert_array_equal(a.labels, b.labels)  # EXPR labels unchanged by the tasks
        np.testing.assert_array_equal(a.audio, b.audio)
    # the VA latents show in the visual rows: a least-squares read-out of valence from the features
    # fitted on the training tracks tracks it on validation, and far better than without them
    def readout(tracks):
        tr = [t for t in tracks if t.va is not None and t.split == "Train_Set"]
        va = [t for t in tracks if t.va is not None and t.split != "Train_Set"]

        def xy(ts):  # per-track standardised features averaged over +-15 frames (the latents are slow)
            k = np.ones(31) / 31
            x = np.concatenate([np.apply_along_axis(np.convolve, 0, standardize_track(t.visual), k, "same") for t in ts])
            y = np.concatenate([t.va[:, 0] for t in ts])
            ok = ~np.isnan(y)
            return np.c_[x[ok], np.ones(ok.sum())], y[ok]

        x, y = xy(tr)
        w = np.linalg.lstsq(x, y, rcond=None)[0]
        vx, vy = xy(va)
        return ccc(vx @ w, vy)

    got, base = readout(with_tasks), readout(without)
    assert got > base + 0.1 and got > 0.3, (got, base)
