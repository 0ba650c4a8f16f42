"""bench/gpu.py, the device check a GPU session runs once, runs end to end here: ``--quick --device
cpu`` takes the same code paths (tiny models and inputs) and writes every row; its timings are not
checked (they belong to the GPU run), what it computed is."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))


def test_quick_device_check_writes_every_row(tmp_path):
    from gpu_sections import EXTRACTORS, expected_keys

    out = tmp_path / "gpu.json"
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu.py"), "--quick", "--device", "cpu",
                        "--out", str(out), "--work", str(tmp_path / "work")],
                       capture_output=True, text=True, cwd=ROOT, check=False)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    doc = json.loads(out.read_text())
    assert doc["device"] == "cpu" and doc["quick"] is True and doc["extractors"] == list(EXTRACTORS)
    rows = {row["key"]: row for row in doc["rows"]}
    assert not [k for k in rows if k.endswith("/error")], [rows[k]["note"] for k in rows if k.endswith("/error")]
    assert sorted(rows) == sorted(expected_keys())
    for k, row in rows.items():
        if k.endswith("peak GPU memory"):
            assert row["value"] is None and row["peak_gpu_mib"] is None  # no GPU here
        else:
            assert row["value"] is not None and row["value"] >= 0, k
        if row["target"].startswith(">="):  # ratios carry their target and verdict
            assert row["met"] == (row["value"] >= float(row["target"][2:].strip(" x"))), k
    for m in EXTRACTORS:  # bf16 (auto on this AMX CPU) or fp32: within the documented tolerance
        assert rows[f"extract/{m}/auto rows vs fp32"]["met"], rows[f"extract/{m}/auto rows vs fp32"]
    assert rows["train/corpus"]["value"] > 1000
    assert "retinaface under onnxruntime cpu" in rows["infer/cpu models loaded"]["note"]
    cuda = rows["tests/cuda"]  # collected and skipped with the reason, none failed
    assert cuda["value"] == 0 and cuda["met"] is None and cuda["note"].startswith("0 failed, ")
    assert "no CUDA GPU on this machine" in cuda["note"] and int(cuda["note"].split(", ")[1].split()[0]) > 20
    table = r.stdout[r.stdout.index("bench/gpu.py on cpu"):]
    assert all(k[:44] in table for k in rows)
