import numpy as np
import pytest
from featurizer.core.annotations import (
    find_annotations,
    read_annotation,
    source_video,
    track_side,
    write_annotation,
)
from featurizer.core.classes import EXPR_CLASSES, HEADER
from featurizer.core.errors import LabelError


def test_class_list_is_the_aff_wild2_header():
    assert HEADER == "Neutral,Anger,Disgust,Fear,Happiness,Sadness,Surprise,Other"
    assert EXPR_CLASSES[4] == "Happiness" and len(EXPR_CLASSES) == 8


def test_source_video_and_side():
    assert source_video("10-60-1280x720_right") == "10-60-1280x720"
    assert source_video("135-24-1920x1080_left") == "135-24-1920x1080"
    for own in ("video45_3", "122-60-1920x1080-1", "102", "video2"):
        assert source_video(own) == own and track_side(own) is None
    assert track_side("video2_left") == "left" and track_side("x_right") == "right"


def test_round_trip_and_trailing_blank_lines(tmp_path):
    p = write_annotation(tmp_path / "a.txt", [0, -1, 7, 3])
    assert read_annotation(p).tolist() == [0, -1, 7, 3]
    assert read_annotation(p).dtype == np.int8
    p.write_text(HEADER + "\n1\n2\n\n\n")
    assert read_annotation(p).tolist() == [1, 2]  # trailing blank lines are not frames


def test_errors_name_file_and_line(tmp_path):
    cases = {
        "Neutral,Anger\n1\nx\n": r"b.txt: line 3: 'x' is not a label",
        "": "empty",
        "Neutral\n9\n": "line 2: label 9 is outside -1..7",
        "3\n4\n": "not the class header",
        "Neutral\n": "no frames",
        # a blank line inside would shift every later frame: refused, with its line number
        "Neutral\n1\n\n2\n": "line 3 is blank",
    }
    for text, msg in cases.items():
        (tmp_path / "b.txt").write_text(text)
        with pytest.raises(LabelError, match=msg):
            read_annotation(tmp_path / "b.txt")


def test_find_annotations_with_splits(tmp_path):
    write_annotation(tmp_path / "EXPR_Set" / "Train_Set" / "a_left.txt", [0])
    write_annotation(tmp_path / "EXPR_Set" / "validation_set" / "b.txt", [1])
    write_annotation(tmp_path / "EXPR_Set" / "extra" / "c.txt", [2])
    found = find_annotations(tmp_path)
    assert {t: f.split for t, f in found.items()} == {"a_left": "Train_Set", "b": "Validation_Set", "c": None}
    write_annotation(tmp_path / "EXPR_Set" / "extra" / "sub" / "b.txt", [1])
    with pytest.raises(LabelError, match="annotated twice"):
        find_annotations(tmp_path)
    with pytest.raises(LabelError, match="labels folder not found"):
        find_annotations(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(LabelError, match="no annotation"):
        find_annotations(tmp_path / "empty")
