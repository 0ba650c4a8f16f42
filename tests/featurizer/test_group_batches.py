"""Short videos batched together: their faces share the visual models' batches (a GPU is not left
idle on a few frames at a time), the rows are those of one video at a time, and a video that fails
in a group fails alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from featurizer import extract
from featurizer.core.store import FeatureStore
from featurizer.demo import encode_video
from featurizer.errors import MediaError
from featurizer.extraction import compute
from featurizer.extraction.executors.local import LocalExecutor, group_limit
from featurizer.faces import face_source
from featurizer.models.extractors.hog import Hog

from .conftest_deep import *  # noqa: F403
from .face_clips import talking_head

N = 12  # frames per clip: far below a window of 256 crops


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("short")
    for i, who in enumerate(("astronaut", "hopper", "astronaut")):
        encode_video(root / f"clip{i}.mp4", talking_head(N, who, amplitude=0.4 + 0.2 * i).frames, 25)
    return root


def _run(clips, out, timm_dirs, group, monkeypatch, faces=None):
    seen = {"items": [], "batches": []}
    real_vf, real_hog = compute.visual_features, Hog.extract_faces

    def visual_features(extractors, src, items, progress):
        seen["items"].append(len(items))
        return real_vf(extractors, src, items, progress)

    def hog(self, crops):
        seen["batches"].append(len(crops))
        return real_hog(self, crops)

    monkeypatch.setattr(compute, "visual_features", visual_features)
    monkeypatch.setattr("featurizer.extraction.write.visual_features", visual_features)
    monkeypatch.setattr(Hog, "extract_faces", hog)
    rep = extract([clips], "hog,densenet", out, weights={"densenet": str(timm_dirs["densenet"])},
                  device="cpu", precision="fp32",
                  executor=LocalExecutor(group_frames=group, faces=faces or face_source(None)))
    monkeypatch.undo()
    return rep, seen


def test_short_videos_share_batches_and_give_the_same_rows(clips, timm_dirs, tmp_path, monkeypatch):
    alone, s1 = _run(clips, tmp_path / "alone.zarr", timm_dirs, 0, monkeypatch)
    grouped, s2 = _run(clips, tmp_path / "grouped.zarr", timm_dirs, 64, monkeypatch)
    assert alone.ok and grouped.ok
    assert s1 == {"items": [1, 1, 1], "batches": [N, N, N]}  # one video at a time
    assert s2 == {"items": [3], "batches": [3 * N]}  # the three in one batch
    a, b = FeatureStore(tmp_path / "alone.zarr", mode="r"), FeatureStore(tmp_path / "grouped.zarr", mode="r")
    assert sorted(a.tracks()) == sorted(b.tracks()) == ["clip0", "clip1", "clip2"]
    for t in a.tracks():
        np.testing.assert_array_equal(a.timestamps(t), b.timestamps(t))
        x, y = a.read_feature(t, "hog"), b.read_feature(t, "hog")
        assert x.present.all() and np.array_equal(x.present, y.present)
        np.testing.assert_array_equal(x.values, y.values)  # each crop's rows, whatever batch it was in
        x, y = a.read_feature(t, "densenet"), b.read_feature(t, "densenet")
        np.testing.assert_allclose(x.values, y.values, rtol=1e-3, atol=1e-3)  # float16 rows
        assert x.attrs["faces"] == y.attrs["faces"]


class FailsOn:
    """Detected faces, except that reading ``bad``'s frames breaks halfway (a damaged file)."""

    def __init__(self, bad: str):
        self.inner, self.bad = face_source(None), bad

    def crops(self, tl, video):
        for k, crop in enumerate(self.inner.crops(tl, video)):
            if Path(video).name == self.bad and k == N // 2:
                raise MediaError(str(video), "decoding failed at frame 6", "re-encode the file")
            yield crop

    def describe(self):
        return self.inner.describe()


def test_a_video_that_fails_in_a_group_fails_alone(clips, timm_dirs, tmp_path, monkeypatch):
    rep, seen = _run(clips, tmp_path / "g.zarr", timm_dirs, 64, monkeypatch, FailsOn("clip1.mp4"))
    assert seen["items"] == [3, 1, 1, 1]  # the group broke; each video again on its own
    assert [r.track for r in rep.failed] == ["clip1"]
    assert rep.failed[0].error.count("\n") == 0 and "clip1.mp4" in rep.failed[0].error
    st = FeatureStore(tmp_path / "g.zarr", mode="r")
    assert st.is_complete("clip0", "densenet") and st.is_complete("clip2", "hog")
    assert not st.is_complete("clip1", "hog")


def test_grouping_is_on_where_a_visual_model_runs_on_cuda():
    class Model:
        modality, batch_size = "visual", 512

        def __init__(self, device):
            self.device = torch.device(device)

    assert group_limit([Model("cpu")], None) == 0  # a CPU's batches are full enough
    assert group_limit([Model("cuda")], None) == 512  # up to one batch of the model
    assert group_limit([Model("cpu")], 100) == 100 and group_limit([], 100) == 0
