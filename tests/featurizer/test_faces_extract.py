"""Extraction without ``--faces`` reads the same detector, alignment and tracks as
``featurizer faces``: ``_left``/``_right`` get their own person; safe from several threads."""

import threading

import numpy as np
from featurizer import create_extractor, extract
from featurizer.core.store import FeatureStore
from featurizer.faces import align_face, face_source
from featurizer.faces.write import write_faces
from featurizer.media.decode import probe_video
from featurizer.media.timeline import Timeline

from .conftest import write_labels


def _labels(tmp_path, tracks, n):
    ann = tmp_path / "annotations"
    for t in tracks:
        write_labels(ann / "Train_Set" / f"{t}.txt", np.arange(n) % 8)
    return ann


def test_extract_without_faces_gives_each_side_its_own_face(face_media, tmp_path):
    ann = _labels(tmp_path, ["pair_left", "pair_right"], 30)
    rep = extract([face_media["pair"]], "hog", str(tmp_path / "s.zarr"), labels=ann, faces=None, dtype="float32")
    assert rep.ok, rep.problems
    s = FeatureStore(str(tmp_path / "s.zarr"), mode="r")
    hog = create_extractor("hog")
    frames, truth = face_media["pair_frames"], face_media["pair_truth"]
    want = {who: hog.extract_faces(np.stack([align_face(f, truth[who][i]) for i, f in enumerate(frames)]))
            for who in ("astronaut", "hopper")}
    for track, me, other in (("pair_left", "astronaut", "hopper"), ("pair_right", "hopper", "astronaut")):
        f = s.read_feature(track, "hog")
        assert f.present.all()
        d_me = np.linalg.norm(f.values - want[me], axis=1)
        d_other = np.linalg.norm(f.values - want[other], axis=1)
        assert (d_me < d_other).all(), (track, d_me, d_other)


def test_featurizer_faces_output_is_what_extract_faces_reads(face_media, tmp_path):
    """The crops on disk (JPEG) and the crops computed on the fly agree."""
    write_faces([face_media["talk"]], tmp_path / "crops")
    kw = dict(labels=None, dtype="float32")
    a = extract([face_media["talk"]], "hog", str(tmp_path / "a.zarr"), faces=tmp_path / "crops", **kw)
    b = extract([face_media["talk"]], "hog", str(tmp_path / "b.zarr"), faces=None, **kw)
    assert a.ok and b.ok
    fa = FeatureStore(str(tmp_path / "a.zarr"), mode="r").read_feature("talk", "hog")
    fb = FeatureStore(str(tmp_path / "b.zarr"), mode="r").read_feature("talk", "hog")
    np.testing.assert_array_equal(fa.present, fb.present)
    assert (~fa.present).nonzero()[0].tolist() == sorted(face_media["hidden"])
    assert np.corrcoef(fa.values.ravel(), fb.values.ravel())[0, 1] > 0.98


def test_face_source_from_many_threads_equals_one(face_media):
    """What the HTTP service does: a face_source(None) per request, requests on several threads."""
    video = face_media["pair"]
    tl = Timeline.from_video("pair_right", probe_video(video).timestamps)
    want = list(face_source(None).crops(tl, video))
    got, errors = {}, []

    def request(k):
        try:
            got[k] = list(face_source(None).crops(tl, video))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=request, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(got) == 4
    for crops in got.values():
        assert [r for r, _ in crops] == [r for r, _ in want] == list(range(30))
        for (_, x), (_, y) in zip(crops, want, strict=True):
            np.testing.assert_array_equal(x, y)


def test_extract_takes_the_detector_by_name(face_media, tmp_path):
    from featurizer.cli import app
    from typer.testing import CliRunner

    ann = _labels(tmp_path, ["talk"], 20)
    args = ["extract", str(face_media["talk"]), "--model", "hog", "--labels", str(ann), "--out", str(tmp_path / "s.zarr")]
    r = CliRunner().invoke(app, [*args, "--detector", "dlib"])
    assert r.exit_code != 0
    assert "--detector dlib: unknown face detector (use one of retinaface, mtcnn, haar)" in r.output
    assert not (tmp_path / "s.zarr").exists()  # refused before anything was written
    r = CliRunner().invoke(app, [*args, "--detector", "haar"])
    assert r.exit_code == 0, r.output
    f = FeatureStore(str(tmp_path / "s.zarr"), mode="r").read_feature("talk", "hog")
    assert f.values.shape == (20, f.values.shape[1]) and f.present.any()


def test_detect_every_reaches_extraction_and_its_provenance(face_media, tmp_path):
    import featurizer
    from featurizer.cli import app
    from featurizer.extraction.job import ExtractJob
    from featurizer.faces import DEFAULT_DETECT_EVERY
    from typer.testing import CliRunner

    video = face_media["talk"]
    assert ExtractJob.of([video], "hog", "x").detect_every == DEFAULT_DETECT_EVERY
    stores = {}
    for every in (None, "1", "4"):
        out = tmp_path / f"{every}.zarr"
        flag = [] if every is None else ["--detect-every", every]
        r = CliRunner().invoke(app, ["extract", str(video), "--model", "hog", "--out", str(out), *flag])
        assert r.exit_code == 0, r.output
        stores[every] = FeatureStore(str(out), mode="r").read_feature("talk", "hog")
    assert stores[None].attrs["faces"] == {"source": "detected", "detector": "retinaface",
                                           "detect_every": DEFAULT_DETECT_EVERY,
                                           "alignment": "arcface-112 five-point similarity"}
    assert stores["1"].attrs["faces"]["detect_every"] == 1 and stores["4"].attrs["faces"]["detect_every"] == 4
    for s in stores.values():  # the same frames have a face (the covered ones do not), close values
        assert (~s.present).nonzero()[0].tolist() == sorted(face_media["hidden"])
        assert np.corrcoef(s.values.ravel(), stores["1"].values.ravel())[0, 1] > 0.95
    # the Python API: the same job, so the same rows
    rep = featurizer.extract(video, "hog", tmp_path / "api.zarr", detect_every=4, device="cpu")
    assert rep.ok
    api = FeatureStore(str(tmp_path / "api.zarr"), mode="r").read_feature("talk", "hog")
    assert api.attrs["faces"]["detect_every"] == 4
    np.testing.assert_array_equal(api.values, stores["4"].values)


def test_bad_detect_every_is_refused_before_anything_is_written(face_media, tmp_path):
    import featurizer
    import pytest
    from featurizer.cli import app
    from featurizer.errors import FaceError
    from typer.testing import CliRunner

    r = CliRunner().invoke(app, ["extract", str(face_media["talk"]), "--model", "hog", "--out", str(tmp_path / "s.zarr"),
                                 "--detect-every", "0"])
    assert r.exit_code == 2
    assert [ln for ln in r.output.splitlines() if ln.strip()] == [
        "error: --detect-every 0: the detector runs every N frames, N 1 or more (e.g. --detect-every 10, or "
        "--detect-every 1 to detect every frame)"]
    with pytest.raises(FaceError, match=r"^detect_every=1\.5: is not a whole number of frames"):
        featurizer.extract(face_media["talk"], "hog", tmp_path / "s.zarr", detect_every=1.5)
    assert not (tmp_path / "s.zarr").exists()
