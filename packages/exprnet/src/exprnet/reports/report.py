"""``exprnet report``: a Markdown page for a run or an ensemble (REPORT.md in its folder); a run with
VA/AU labels shows every task's scores and figures (:mod:`.tasks`)."""

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
from .tasks import is_multitask, is_task_ensemble, task_ensemble_lines, task_lines


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


def _describe(rec: dict[str, Any]) -> str:
    kind = rec.get("kind")
    if kind in ("viterbi", "hsmm"):
        return f"{kind} (emission weight {rec.get('weight'):g}, balance {rec.get('balance', 0):g})"
    if kind == "calibration":
        return f"calibration (temperature {rec.get('temperature', 1.0):.3f})"
    return f"{kind} +-{rec.get('width', rec.get('k'))} frames"


def postprocess_lines(m: dict[str, Any]) -> list[str]:
    """What the probabilities went through after the model, and their calibration error (ECE)."""
    out: list[str] = []
    sm = m.get("smoothing")
    if m.get("kind") == "ensemble":
        cals = [c for c in m.get("calibration") or [] if c]
        if cals:
            out.append(f"- members calibrated before they are combined: {', '.join(_describe(c) for c in cals)}")
        if sm:
            out.append(f"- post-processing: {_describe(sm)}, chosen on validation (optimistic)")
        if m.get("smooth"):
            out.append(f"- post-processing: {_describe(m['smooth'])}, {m['smooth'].get('chosen_on', '')}")
        return out
    if not sm:
        return out
    cal = sm.get("calibration") or {}
    out += ["", "## Post-processing", "",
            f"- {_describe(sm)}, chosen on {sm.get('chosen_on', 'fixed')} ({sm.get('probabilities', 'fixed')})"]
    if cal:
        out.append(f"- {_describe(cal)} ({cal.get('mode')}), fitted on {cal.get('fitted_on')}")
    before, after = m.get("val_ece_before", sm.get("val_ece_before")), m.get("val_ece_after", sm.get("val_ece_after"))
    if before is not None:
        out.append(f"- validation ECE (top class, 15 bins): {before:.3f} before calibration, {after:.3f} after")
    if cal.get("train_ece_before") is not None:
        out.append(f"- training ECE: {cal['train_ece_before']:.3f} before, {cal['train_ece_after']:.3f} after")
    return out


def write_report(folder: str | Path) -> Path:
    root = Path(folder)
    mpath = root / "metrics.json"
    if not mpath.exists():
        raise ConfigError(str(root), "has no metrics.json", "pass a run folder or an `exprnet ensemble` --out")
    m = json.loads(mpath.read_text())
    lines = [f"# Report: {root.name}", ""]
    if is_task_ensemble(m):  # runs with VA or AU heads
        tl, pictures = task_ensemble_lines(m, root)
        lines += tl
        if m.get("postprocess"):
            lines += postprocess_lines(m)
    elif m.get("kind") == "ensemble":
        lines += [f"Ensemble of {len(m['members'])} runs by **{m['method']}** on {m['val_tracks']} validation "
                  f"tracks ({m['val_frames']} labelled frames).", "",
                  f"- validation F1: **{m['val_f1']:.4f}**" + (
                      f" (fit on validation; cross-validated estimate over {m['cv_folds']} groups of "
                      f"validation tracks: **{m['val_f1_cv']:.4f}**)" if m["fit_on_validation"] else ""),
                  f"- best single member: {m['best_member_f1']:.4f}"]
        lines += postprocess_lines(m)
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
    elif is_multitask(m):  # VA and/or AU (a multi-task network or a VA/AU baseline)
        run = RunFolder(root)
        cfg = run.read_config()
        kind = "baseline" if m.get("kind") == "baseline" else f"{cfg.model.encoder}, best epoch {m.get('best_epoch')}"
        lines += [f"Run **{cfg.name}** ({kind}) on {'+'.join(cfg.data.features)}: tasks "
                  f"{', '.join(t.upper() for t in m['tasks'])}.", ""]
        tl, pictures = task_lines(m, root)
        lines += tl
        if "expr" in m["tasks"]:
            lines += postprocess_lines(m)
        lines += provenance_table(run.read_features())
        pictures = [("curves.png", "Training curves"), ("confusion.png", "EXPR confusion matrix (validation)"),
                    *pictures]
    else:
        run = RunFolder(root)
        cfg = run.read_config()
        lines += [f"Run **{cfg.name}**: {cfg.model.encoder} on {'+'.join(cfg.data.features)}; best epoch "
                  f"{m['best_epoch']}, validation F1 **{m['best_val_f1']:.4f}**.", "",
                  "## Table 3 layout (validation F1)", "", "| model | features | encoder | F1 |", "|---|---|---|---|",
                  f"| {root.name} | {'+'.join(cfg.data.features)} | {cfg.model.encoder} | {m['best_val_f1']:.4f} |"]
        lines += postprocess_lines(m)
        lines += provenance_table(run.read_features())
        if "confusion" in m and not (root / "confusion.png").exists():
            plot_confusion(m["confusion"], root / "confusion.png")
        pictures = [("curves.png", "Training curves"), ("confusion.png", "Confusion matrix (validation, best epoch)")]
    pc = m.get("per_class_f1") or m.get("val_per_class_f1")  # EXPR's (a multi-task network: val_per_class_f1)
    if pc:
        lines += ["", "## Per-class F1" + (" (EXPR)" if is_multitask(m) else ""), "", *_class_table(_per_class(pc)), ""]
    else:
        lines.append("")
    for f, title in pictures:
        if (root / f).exists():
            lines += [f"## {title}", "", f"![{title}]({f})", ""]
    out = root / "REPORT.md"
    atomic_write_text(out, "\n".join(lines))
    return out
