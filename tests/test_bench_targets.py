"""bench/learning_tasks_targets.py: the targets of bench/learning_tasks.py's rows, and ``--pool``
averaging each target's difference over corpus draws, against a hand computation."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))


def rows(va_single: list[float], va_multi: list[float], ens: float) -> list[dict]:
    return [{"size": "small", "task": "va", "method": "VA baseline", "scores": [0.40, 0.40]},
            {"size": "small", "task": "va", "method": "recommended-va + post (oof)", "scores": va_single},
            {"size": "small", "task": "va", "method": "recommended-all + post (oof)", "scores": va_multi},
            {"size": "small", "task": "va", "method": "recommended-va ensemble", "scores": [ens]}]


def test_targets_and_their_pooled_differences(tmp_path):
    from learning_tasks_targets import targets

    a = rows([0.60, 0.50], [0.52, 0.54], 0.58)
    got = {what: (v, ref, tol) for what, v, ref, tol in targets(a)}
    # the ensemble against its best seed, with the 0.005 tolerance
    assert got["[small] VA recommended-va ensemble vs its best member"] == pytest.approx((0.58, 0.60, -0.005))
    # seed means: single 0.55, multi 0.53; baseline 0.40
    assert got["[small] VA CCC: recommended-all + post (oof) vs recommended-va + post (oof)"] == \
        pytest.approx((0.53, 0.55, -0.02))
    assert got["[small] recommended-va + post (oof) vs VA baseline"] == pytest.approx((0.55, 0.40, 0.0))
    b = rows([0.70, 0.72], [0.75, 0.73], 0.73)
    files = []
    for k, r in enumerate((a, b)):
        files.append(tmp_path / f"d{k}.json")
        files[-1].write_text(json.dumps(r))
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "learning_tasks.py"), "--pool", *map(str, files)],
                         capture_output=True, text=True, cwd=ROOT, check=True).stdout
    lines = {line.split(":")[0].strip(): line for line in out.splitlines() if line.startswith("  [")}
    # ensemble: -0.02 and +0.01 -> mean -0.005: met at the tolerance
    ens = lines["[small] VA recommended-va ensemble vs its best member"]
    assert "per draw -0.0200, +0.0100" in ens and "mean met (-0.0050" in ens
    # multi vs single: -0.02 and +0.03 -> +0.005
    multi = next(v for k, v in lines.items() if k.startswith("[small] VA CCC"))
    assert "per draw -0.0200, +0.0300" in multi and "mean met (+0.0050" in multi
