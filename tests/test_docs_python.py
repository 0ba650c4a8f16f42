"""docs/python.md's session runs as written: its `python` blocks, in order, in one namespace, in a
fresh folder (the demo corpus it makes, extraction, training, a bundle, a held-out video)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def test_python_md_session_runs(tmp_path, monkeypatch):
    blocks = _BLOCK.findall((ROOT / "docs" / "python.md").read_text())
    assert len(blocks) >= 5
    monkeypatch.chdir(tmp_path)
    ns: dict = {"__name__": "docs_python"}
    for k, code in enumerate(blocks):
        exec(compile(code, f"docs/python.md block {k + 1}", "exec"), ns)  # noqa: S102 - the page's own code
    person = ns["person"]
    assert person.track == "heldout-1" and person.probabilities.shape == (100, 8)
    assert ns["summary"].ok and (tmp_path / "bundle" / "bundle.json").is_file()
    assert ns["bundle"].signer and (tmp_path / "bundle" / "bundle.sig").is_file()
