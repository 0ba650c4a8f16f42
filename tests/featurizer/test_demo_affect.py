"""The demo corpus's VA and AU labels follow its expressions, on their own subsets of videos."""

import numpy as np
from featurizer.core.annotations import find_annotations, read_annotation, read_labels
from featurizer.core.classes import AU_NAMES, EXPR_CLASSES
from featurizer.demo import make_demo
from featurizer.demo.affect import action_units, valence_arousal
from featurizer.demo.corpus import FACE


def test_affect_of_each_drawn_expression():
    va = dict(zip(EXPR_CLASSES, valence_arousal(FACE), strict=True))
    au = dict(zip(EXPR_CLASSES, action_units(FACE).astype(bool), strict=True))
    assert va["Happiness"][0] > 0.5 > -0.5 > va["Sadness"][0] and va["Neutral"][0] == 0
    assert va["Surprise"][1] > 0.5 and va["Fear"][1] > 0.5 and va["Sadness"][1] < 0
    on = {c: {a for a, v in zip(AU_NAMES, au[c], strict=True) if v} for c in EXPR_CLASSES}
    assert on["Happiness"] == {"AU6", "AU12", "AU25"} and not on["Neutral"] and {"AU25", "AU26"} <= on["Surprise"]
    assert action_units(FACE).any(axis=0).all()  # every AU occurs


def test_demo_corpus_writes_three_tasks_on_subsets(tmp_path):
    make_demo(tmp_path, n_videos=8, seconds=2, heldout=1)
    sets = {t: set(find_annotations(tmp_path / d)) for t, d in
            (("expr", "annotations"), ("va", "VA_Set"), ("au", "AU_Set"))}
    assert sets["va"] < sets["expr"] and sets["au"] < sets["expr"]
    counts = [sum(t in s for s in sets.values()) for t in sets["expr"]]
    assert {1, 2, 3} <= set(counts)  # tracks with one, two and three label sets
    files = {t: find_annotations(tmp_path / d) for t, d in (("expr", "annotations"), ("va", "VA_Set"), ("au", "AU_Set"))}
    for split in ("Train_Set", "Validation_Set"):
        assert any(f.split == split for f in files["va"].values()) and any(f.split == split for f in files["au"].values())
    expr = np.concatenate([read_annotation(files["expr"][t].path) for t in sorted(sets["va"])])
    va = np.concatenate([read_labels(files["va"][t].path).values for t in sorted(sets["va"])])
    au = np.concatenate([read_labels(files["au"][t].path).values for t in sorted(sets["va"] & sets["au"])])
    assert np.isnan(va).all(axis=1).any() and (au == -1).all(axis=1).any()  # unannotated markers
    ok = ~np.isnan(va[:, 0])
    happy, sad = ok & (expr == 4), ok & (expr == 5)
    assert va[happy, 0].mean() > 0.5 and va[sad, 0].mean() < -0.5
    assert set(find_annotations(tmp_path / "heldout" / "VA_Set")) == {"heldout-1"}
