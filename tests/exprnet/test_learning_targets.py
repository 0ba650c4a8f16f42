"""bench/learning_targets.py: the learning benchmark's targets read off hand-made rows."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from learning_targets import memory_verdict, table_verdicts, targets_table  # noqa: E402


def _row(kind, f1, **extra):
    return {"method": f"{kind} row", "kind": kind, "f1": f1, **extra}


def test_each_target_is_read_with_its_margin():
    rows = [_row("frame", [0.30, 0.30]), _row("frame", [0.25]), _row("baseline", [0.60]),
            _row("baseline", [0.62, 0.62]), _row("encoder", [0.50, 0.52]), _row("encoder", [0.34, 0.34]),
            _row("recommended", [0.65, 0.67]),
            _row("vote", [0.67, 0.66, 0.66], over=[0.01, -0.005, 0.0]),
            _row("mean", [0.65], over=[-0.002])]
    lines = table_verdicts("small", rows)
    assert len(lines) == 4
    rec, enc, vote, soft = lines
    assert "0.660 vs 0.620" in rec and "+0.040" in rec and rec.endswith("| met |")  # best baseline: 0.62
    assert "0.340 vs 0.300" in enc and "+0.040" in enc and enc.endswith("| NOT met |")  # weakest encoder, 0.05 bar
    assert "+0.002 on average, >= it in 2 of 3" in vote and vote.endswith("| met |")
    assert "-0.002 on average, >= it in 0 of 1" in soft and soft.endswith("| NOT met |")


def test_recommended_below_the_bar_and_unread_targets():
    lines = table_verdicts("large", [_row("baseline", [0.62]), _row("recommended", [0.64])])
    assert len(lines) == 1 and "+0.020" in lines[0] and lines[0].endswith("| NOT met |")
    assert table_verdicts("large", [_row("recommended", [0.64])]) == []  # no baselines: nothing to read


def test_memory_and_whole_table():
    assert memory_verdict(1.0, "large", 3).endswith("| met |")
    assert memory_verdict(1e9, "large", 3).endswith("| NOT met |")
    assert memory_verdict(1.0, "large", 0).endswith("| not read |")  # every run reused: no training measured
    out = targets_table([("small", [_row("baseline", [0.5]), _row("recommended", [0.6])])], 1.0, "small", 1)
    assert out.splitlines()[0].startswith("| table | target |") and len(out.splitlines()) == 4


def _drow(model, spec, f1, oracle=0.9, ece=(0.1, 0.04), share=0.02):
    return {"model": model, "spec": spec, "f1": f1, "oracle": [oracle], "ece_before": [ece[0]],
            "ece_after": [ece[1]], "decode_share": [share]}


def test_decoding_targets():
    from learning_targets import decoding_verdicts

    rows = [_drow("logreg baseline", "box:raw", [0.55]), _drow("logreg baseline", "hsmm", [0.66], ece=(0.1, 0.07)),
            _drow("recommended", "box:raw", [0.60]), _drow("recommended", "viterbi", [0.70, 0.72], oracle=0.80)]
    s = {"rows": rows, "ensembles": [{"decode_once": 0.73, "best_member": 0.72},
                                     {"decode_once": 0.70, "best_member": 0.71}]}
    rec, gap, vote, ece, share = decoding_verdicts("small", s, "viterbi")
    assert "0.710 vs 0.660" in rec and "+0.050" in rec and rec.endswith("| met |")
    assert "(0.710 - 0.600) / (0.800 - 0.600) = 0.55" in gap and gap.endswith("| met |")
    assert "+0.000 on average, >= it in 1 of 2" in vote and vote.endswith("| met |")
    # recommended's ECE reads the target; the others' are printed beside it
    assert "logreg baseline 0.100 -> 0.070" in ece and "recommended 0.100 -> 0.040" in ece and ece.endswith("| met |")
    rows[-1]["ece_after"] = [0.06]
    assert decoding_verdicts("small", s, "viterbi")[3].endswith("| NOT met |")
    assert "2.0%" in share and share.endswith("| met |")
