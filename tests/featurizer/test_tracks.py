from featurizer.core.annotations import find_annotations
from featurizer.media.inputs import plan_sources


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
