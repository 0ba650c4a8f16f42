import numpy as np
import pytest
from featurizer.core.annotations import (
    find_annotations,
    folder_task,
    read_annotation,
    read_labels,
    source_video,
    track_side,
    write_annotation,
    write_au_annotation,
    write_va_annotation,
)
from featurizer.core.classes import AU_HEADER, AU_NAMES, EXPR_CLASSES, HEADER, VA_HEADER
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


def test_headers_are_aff_wild2s():
    assert VA_HEADER == "valence,arousal"
    assert AU_HEADER == "AU1,AU2,AU4,AU6,AU7,AU10,AU12,AU15,AU23,AU24,AU25,AU26" and len(AU_NAMES) == 12


def test_va_file_with_unannotated_frames(tmp_path):
    p = tmp_path / "v.txt"
    p.write_text("valence,arousal\n0.5,-0.25\n-5,-5\n-1,1\n-5.0,-5.0\n\n")
    lab = read_labels(p)
    assert lab.task == "va" and lab.values.dtype == np.float32 and lab.values.shape == (4, 2)
    np.testing.assert_array_equal(lab.values[[0, 2]], [[0.5, -0.25], [-1, 1]])
    assert np.isnan(lab.values[[1, 3]]).all()
    q = write_va_annotation(tmp_path / "w.txt", lab.values)  # NaN rows written back as -5,-5
    assert q.read_text().splitlines()[2] == "-5,-5"
    np.testing.assert_array_equal(read_labels(q).values, lab.values)


def test_au_file_with_unannotated_frames(tmp_path):
    p = tmp_path / "a.txt"
    p.write_text(AU_HEADER + "\n" + ",".join(["1", "0"] * 6) + "\n" + ",".join(["-1"] * 12) + "\n")
    lab = read_labels(p)
    assert lab.task == "au" and lab.values.dtype == np.int8 and lab.values.shape == (2, 12)
    assert lab.values[0].tolist() == [1, 0] * 6 and lab.values[1].tolist() == [-1] * 12
    np.testing.assert_array_equal(read_labels(write_au_annotation(tmp_path / "b.txt", lab.values)).values,
                                  lab.values)


def test_expr_through_read_labels_and_expr_reader_refuses_other_tasks(tmp_path):
    p = write_annotation(tmp_path / "e.txt", [0, -1, 7])
    assert read_labels(p).task == "expr" and read_labels(p).values.tolist() == [0, -1, 7]
    v = write_va_annotation(tmp_path / "v.txt", np.zeros((2, 2)))
    with pytest.raises(LabelError, match="v.txt: holds VA labels, not expressions"):
        read_annotation(v)


def test_bad_va_and_au_files_name_file_and_line(tmp_path):
    au_row = ",".join(["0"] * 12)
    cases = {
        "valence,arousl\n0,0\n": r"line 1: 'valence,arousl' is not the VA header \(expected valence,arousal\)",
        "arousal,valence\n0,0\n": "line 1: 'arousal,valence' is not the VA header",
        "valence,arousal\n0.1,0.2\n0.1\n": "line 3: 1 values, expected 2",
        "valence,arousal\n0.1,0.2,0.3\n": "line 2: 3 values, expected 2",
        "valence,arousal\n0.1,x\n": "line 2: 'x' is not a number",
        "valence,arousal\n0.1,1.5\n": "line 2: '0.1,1.5' is outside \\[-1, 1\\]",
        "valence,arousal\n-5,0.2\n": "line 2: '-5,0.2' is outside",
        "valence,arousal\n0,nan\n": "line 2: '0,nan' is outside",
        "valence,arousal\n0,0\n\n0,0\n": "line 3 is blank",
        "valence,arousal\n": "no frames",
        "AU1,AU2,AU4\n0,0,0\n": "line 1: 'AU1,AU2,AU4' is not the AU header",
        AU_HEADER + "\n" + au_row + "\n0,1\n": "line 3: 2 values, expected 12",
        AU_HEADER + "\n" + au_row[:-1] + "2\n": "line 2: .* is not twelve 0/1 values",
        AU_HEADER + "\n" + "-1," + au_row[2:] + "\n": "line 2: .* is not twelve 0/1 values",
        AU_HEADER + "\n" + au_row[:-1] + "0.5\n": "line 2: '0.5' is not an integer",
        "0.5,0.5\n": "line 1 is not the class header",
    }
    for text, msg in cases.items():
        (tmp_path / "b.txt").write_text(text)
        with pytest.raises(LabelError, match=msg) as e:
            read_labels(tmp_path / "b.txt")
        assert str(e.value).startswith(str(tmp_path / "b.txt")) and "\n" not in str(e.value)


def test_folder_task_from_headers(tmp_path):
    write_va_annotation(tmp_path / "VA_Set" / "Train_Set" / "a.txt", np.zeros((3, 2)))
    write_va_annotation(tmp_path / "VA_Set" / "Validation_Set" / "b.txt", np.zeros((3, 2)))
    write_au_annotation(tmp_path / "AU_Set" / "Train_Set" / "a.txt", np.zeros((3, 12)))
    write_annotation(tmp_path / "EXPR_Set" / "Train_Set" / "a.txt", [1, 2])
    assert [folder_task(tmp_path / f) for f in ("VA_Set", "AU_Set", "EXPR_Set")] == ["va", "au", "expr"]
    write_annotation(tmp_path / "VA_Set" / "Validation_Set" / "c.txt", [1])
    with pytest.raises(LabelError, match="c.txt: holds EXPR labels but .*a.txt holds VA"):
        folder_task(tmp_path / "VA_Set")
