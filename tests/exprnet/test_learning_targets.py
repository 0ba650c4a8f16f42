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
