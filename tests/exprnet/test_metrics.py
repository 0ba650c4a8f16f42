import numpy as np
from exprnet.reports.metrics import confusion, macro_f1, per_class_f1
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import confusion_matrix, f1_score


def sk(y, p):
    keep = y >= 0
    return f1_score(y[keep], p[keep], average="macro", labels=range(8), zero_division=0)


def test_macro_f1_matches_sklearn_on_random_data():
    rng = np.random.default_rng(0)
    for n in (1, 7, 100, 5000):
        y = rng.integers(-1, 8, n)
        p = rng.integers(0, 8, n)
        assert np.isclose(macro_f1(y, p), sk(y, p))


def test_absent_classes_count_as_zero_and_minus_one_is_excluded():
    y = np.array([0, 0, 1, -1, -1])
    p = np.array([0, 0, 1, 5, 6])  # predictions on -1 frames must not create false positives
    assert np.isclose(macro_f1(y, p), 2 / 8)
    assert np.isclose(macro_f1(y, p), sk(y, p))


def test_confusion_matches_sklearn():
    rng = np.random.default_rng(1)
    y, p = rng.integers(-1, 8, 300), rng.integers(0, 8, 300)
    keep = y >= 0
    assert (confusion(y, p) == confusion_matrix(y[keep], p[keep], labels=range(8))).all()
    assert per_class_f1(confusion(y, p)).shape == (8,)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(-1, 7), st.integers(0, 7)), min_size=1, max_size=200))
def test_macro_f1_property(pairs):
    y = np.array([a for a, _ in pairs])
    p = np.array([b for _, b in pairs])
    expected = sk(y, p) if (y >= 0).any() else 0.0
    assert np.isclose(macro_f1(y, p), expected)
