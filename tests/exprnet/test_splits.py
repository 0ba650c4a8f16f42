import pytest
from exprnet.data.splits import make_folds
from exprnet.errors import DataError
from featurizer.core.annotations import source_video
from hypothesis import given, settings
from hypothesis import strategies as st

TRAIN = {"10-60-1280x720_left": 300, "10-60-1280x720_right": 280, "video2_left": 50, "video2_right": 60,
         "video45_3": 500, "video45_4": 120, "122-60-1920x1080-1": 90, "102": 400, "7": 10,
         "135-24-1920x1080_left": 200, "135-24-1920x1080_right": 210}
VAL = ["val1", "val2_left", "val2_right"]


def check(folds, train, val, n):
    assert len(folds) == n
    assert folds[-1].val == sorted(val) and folds[-1].train == sorted(train)
    held_out = [t for f in folds[:-1] for t in f.val]
    assert sorted(held_out) == sorted(train), "every Train_Set track is validated exactly once"
    videos = [{source_video(t) for t in f.val} for f in folds[:-1]]
    for i in range(len(videos)):
        for j in range(i + 1, len(videos)):
            assert not videos[i] & videos[j], "two folds share a source video"
    for f in folds:
        assert not set(f.train) & set(f.val)
        assert not {source_video(t) for t in f.train} & {source_video(t) for t in f.val} or f.index == n
        assert set(f.train) | set(f.val) == set(train) | set(val)


def test_folds_by_source_video():
    folds = make_folds(TRAIN, VAL, 5)
    check(folds, TRAIN, VAL, 5)
    left = next(f for f in folds if "10-60-1280x720_left" in f.val)
    assert "10-60-1280x720_right" in left.val


def test_folds_are_balanced_and_deterministic():
    a, b = make_folds(TRAIN, VAL, 5), make_folds(TRAIN, VAL, 5)
    assert a == b
    loads = [sum(TRAIN[t] for t in f.val) for f in a[:-1]]
    assert max(loads) - min(loads) <= 600


def test_too_few_videos():
    with pytest.raises(DataError, match="too few"):
        make_folds({"a_left": 1, "a_right": 1, "b": 1}, VAL, 5)


names = st.text(alphabet="abc12-", min_size=1, max_size=4)


@settings(max_examples=50, deadline=None)
@given(st.dictionaries(st.tuples(names, st.sampled_from(["", "_left", "_right"])), st.integers(1, 500),
                       min_size=4, max_size=30), st.integers(2, 4))
def test_folds_never_share_a_video(d, n):
    train = {a + b: w for (a, b), w in d.items()}
    if len({source_video(t) for t in train}) < n - 1:
        return
    check(make_folds(train, ["zz_val"], n), train, ["zz_val"], n)
