"""``exprnet report``: a Markdown page for a run or an ensemble (REPORT.md in its folder)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from featurizer.core.files import atomic_write_text
from featurizer.core.identity import describe_identity

from ..config import CLASSES
from ..errors import ConfigError
from ..training.runfolder import RunFolder
from .plots import plot_confusion


def _per_class(pc: Any) -> list[float]:
    return [float(pc[c]) for c in CLASSES] if isinstance(pc, dict) else [float(v) for v in pc]


def _class_table(pc: list[float]) -> list[str]:
    return ["| " + " | ".join(CLASSES) + " | mean |", "|" + "---|" * (len(CLASSES) + 1),
            "| " + " | ".join(f"{v:.3f}" for v in pc) + f" | **{sum(pc) / len(pc):.4f}** |"]


def selection_table(m: dict[str, Any]) -> list[str]:
    """The ensemble with every member at its best epoch and at its last: choosing each member's best
    validation epoch uses the validation labels, so its F1 is optimistic; the last epoch's is not."""
    sel = m.get("selection")
    if not sel:
        return []
    out = ["", "## Checkpoint selection", "",
           "Members at their best validation epoch (chosen on the validation labels, so optimistic) "
           "and at their last epoch:", "",
           f"| members at | ensemble ({m['method']}) | best member | mean member |", "|---|---|---|---|"]
    for name in ("best", "last"):
        if name in sel:
            s = sel[name]
            out.append(f"| {name} epoch{' (used)' if m.get('select', 'best') == name else ''} | "
                       f"{s['val_f1']:.4f} | {s['best_member_f1']:.4f} | {s['mean_member_f1']:.4f} |")
    return out


def provenance_table(records: dict[str, dict[str, Any]] | None) -> list[str]:
    """How each feature the run trained on was made (from RUN/features.json)."""
    if not records:
        return []
    out = ["", "## Feature provenance", "", "| feature | modality | dim | weights kind | how it was made |",
           "|---|---|---|---|---|"]
    for f, r in records.items():
        out.append(f"| {f} | {r.get('modality', '')} | {r.get('dim', '')} | {r.get('weights_kind') or 'not recorded'} "
                   f"| {describe_identity(r.get('identity') or {})} |")
    return out


def write_report(folder: str | Path) -> Path:
    root = Path(folder)
    mpath = root / "metrics.json"
    if not mpath.exists():
        raise ConfigError(str(root), "has no metrics.json", "pass a run folder or an `exprnet ensemble` --out")
    m = json.loads(mpath.read_text())
    lines = [f"# Report: {root.name}", ""]
    if m.get("kind") == "ensemble":
        lines += [f"Ensemble of {len(m['members'])} runs by **{m['method']}** on {m['val_tracks']} validation "
                  f"tracks ({m['val_frames']} labelled frames).", "",
                  f"- validation F1: **{m['val_f1']:.4f}**" + (
                      f" (fit on validation; cross-validated estimate over {m['cv_folds']} groups of "
                      f"validation tracks: **{m['val_f1_cv']:.4f}**)" if m["fit_on_validation"] else ""),
                  f"- best single member: {m['best_member_f1']:.4f}"]
        if m.get("smoothing"):
            lines.append(f"- temporal smoothing: {m['smoothing']['kind']}, +-{m['smoothing']['k']} frames")
        lines += ["", "## Table 3 layout (validation F1)", "", "| model | features | encoder | weight | F1 |",
                  "|---|---|---|---|---|"]
        wsum = sum(m["weights"]) or 1.0
        for mem, w in zip(m["members"], m["weights"], strict=True):
            lines.append(f"| {mem['name']} | {'+'.join(mem['features'])} | {mem['encoder']} | {w / wsum:.2f} | "
                         f"{mem['val_f1']:.4f} |")
        lines.append(f"| **ensemble ({m['method']})** | | | | **{m['val_f1']:.4f}** |")
        lines += selection_table(m)
        merged: dict[str, dict[str, Any]] = {}
        for mem in m["members"]:
            merged.update({f: r for f, r in (RunFolder(mem["run"]).read_features() or {}).items() if f not in merged})
        lines += provenance_table(merged)
        pictures = [("confusion.png", "Confusion matrix (validation)"), ("agreement.png", "Member agreement")]
    else:
        run = RunFolder(root)
        cfg = run.read_config()
        lines += [f"Run **{cfg.name}**: {cfg.model.encoder} on {'+'.join(cfg.data.features)}; best epoch "
                  f"{m['best_epoch']}, validation F1 **{m['best_val_f1']:.4f}**.", "",
                  "## Table 3 layout (validation F1)", "", "| model | features | encoder | F1 |", "|---|---|---|---|",
                  f"| {root.name} | {'+'.join(cfg.data.features)} | {cfg.model.encoder} | {m['best_val_f1']:.4f} |"]
        lines += provenance_table(run.read_features())
        if "confusion" in m and not (root / "confusion.png").exists():
            plot_confusion(m["confusion"], root / "confusion.png")
        pictures = [("curves.png", "Training curves"), ("confusion.png", "Confusion matrix (validation, best epoch)")]
    lines += ["", "## Per-class F1", "", *_class_table(_per_class(m["per_class_f1"])), ""]
    for f, title in pictures:
        if (root / f).exists():
            lines += [f"## {title}", "", f"![{title}]({f})", ""]
    out = root / "REPORT.md"
    atomic_write_text(out, "\n".join(lines))
    return out
