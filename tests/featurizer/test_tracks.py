import pytest

from featurizer.errors import LabelError
from featurizer.tracks import find_annotations, plan_sources, read_annotation, source_video_name

from .conftest import write_labels


def test_source_video_names():
    assert source_video_name("10-60-1280x720_right") == "10-60-1280x720"
    assert source_video_name("135-24-1920x1080_left") == "135-24-1920x1080"
    assert source_video_name("video45_3") == "video45_3"
    assert source_video_name("122-60-1920x1080-1") == "122-60-1920x1080-1"
    assert source_video_name("102") == "102"


def test_read_annotation_errors_name_file_and_line(tmp_path):
    ok = write_labels(tmp_path / "a.txt", [0, -1, 7])
    assert read_annotation(ok).tolist() == [0, -1, 7]
    bad = tmp_path / "b.txt"
    bad.write_text("Neutral,Anger\n1\nx\n")
    with pytest.raises(LabelError, match=r"b.txt: line 3"):
        read_annotation(bad)
    (tmp_path / "c.txt").write_text("")
    with pytest.raises(LabelError, match="empty"):
        read_annotation(tmp_path / "c.txt")
    (tmp_path / "d.txt").write_text("Neutral\n9\n")
    with pytest.raises(LabelError, match="outside"):
        read_annotation(tmp_path / "d.txt")
    (tmp_path / "e.txt").write_text("3\n4\n")
    with pytest.raises(LabelError, match="header"):
        read_annotation(tmp_path / "e.txt")


def test_plan_maps_tracks_to_videos(media, labelled):
    videos = [media["cfr"], media["twoface"], media["avi"], media["noaudio"]]
    plans, problems = plan_sources(videos, labelled["annotations"])
    by_video = {p.video.stem: sorted(t.track for t in p.tracks) for p in plans}
    assert by_video["duo"] == ["duo_left", "duo_right"]
    assert by_video["video45_3"] == ["video45_3"]
    assert by_video["clip"] == ["clip"]
    assert "silent" not in by_video  # no annotation
    (ghost,) = [k for k in problems if "ghost_left" in k]
    assert "no video named 'ghost_left' or 'ghost'" in problems[ghost]
    assert len(find_annotations(labelled["annotations"])) == 5
