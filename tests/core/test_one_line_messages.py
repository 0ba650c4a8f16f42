"""Errors of both CLIs are one unbroken line when stderr is a pipe, at any width, for long paths."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


def run(tool: str, *args: str, tmp: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "40"}
    return subprocess.run([str(BIN / tool), *args], capture_output=True, text=True, env=env, cwd=tmp,
                          timeout=120)


@pytest.fixture
def deep(tmp_path) -> Path:
    d = tmp_path.joinpath(*["a-rather-long-folder-name"] * 6)
    d.mkdir(parents=True)
    return d


def one_line(text: str, *fragments: str) -> str:
    """The single line holding every fragment (fails if they are spread over lines)."""
    lines = [ln for ln in text.splitlines() if all(f in ln for f in fragments)]
    assert lines, f"no single line holds {fragments!r} in:\n{text}"
    return lines[0]


def test_featurizer_errors_are_one_line(deep):
    r = run("featurizer", "inspect", str(deep / "missing.zarr"), tmp=deep)
    assert r.returncode == 2
    one_line(r.stderr, "error:", f"{deep / 'missing.zarr'}: no feature store here")
    r = run("featurizer", "extract", "--modle", "x", tmp=deep)
    assert r.returncode == 2
    one_line(r.stderr, "No such option: --modle")


def test_exprnet_errors_are_one_line(deep):
    fake = deep / "not-a-run"
    fake.mkdir()
    r = run("exprnet", "ensemble", "--runs", str(fake), "--store", str(deep / "s.zarr"), "--labels",
            str(deep), "--out", str(deep / "ens"), tmp=deep)
    assert r.returncode == 2
    one_line(r.stderr, "error:", f"{fake}: is not a finished run folder")
    r = run("exprnet", "train", "--presett", "x", tmp=deep)
    assert r.returncode == 2
    one_line(r.stderr, "No such option: --presett")
