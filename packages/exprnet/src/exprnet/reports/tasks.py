"""The VA and AU parts of ``exprnet report`` (a multi-task run, or a VA/AU baseline): each task's
validation scores from metrics.json and its figures (VA scatter and time series, per-AU F1 bars)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..tasks.names import AU_NAMES

PRIMARY = {"expr": ("val_f1", "EXPR F1 (mean of 8 classes)"), "va": ("val_va", "VA CCC (mean of valence, arousal)"),
           "au": ("val_au_f1", "AU F1 (mean of 12 AUs)")}


def is_multitask(m: dict[str, Any]) -> bool:
    return list(m.get("tasks", ["expr"])) != ["expr"]


def task_lines(m: dict[str, Any], root: Path) -> tuple[list[str], list[tuple[str, str]]]:
    """Markdown lines (a score per task, VA's two CCCs, the per-AU F1 table) and the figures to show."""
    tasks = list(m.get("tasks", []))
    what = "baseline" if m.get("kind") == "baseline" else f"best epoch {m.get('best_epoch')}"
    out = ["## Tasks (validation)", "", f"| task | metric | score ({what}) |", "|---|---|---|"]
    for t in tasks:
        key, name = PRIMARY[t]
        if key in m:
            out.append(f"| {t.upper()} | {name} | **{m[key]:.4f}** |")
    if len(tasks) > 1 and m.get("val_score") is not None:
        out.append(f"| all | mean of the tasks' scores | {m['val_score']:.4f} |")
    more, pictures = task_details(m, root)
    return out + more, pictures


def task_details(m: dict[str, Any], root: Path) -> tuple[list[str], list[tuple[str, str]]]:
    """VA's two CCCs and the per-AU F1 table (with how they were post-processed), and the figures."""
    from ..tasks.plots import plot_au_f1

    out: list[str] = []
    pictures: list[tuple[str, str]] = []
    if "val_va" in m:
        out += ["", "## Valence and arousal", "", "| valence CCC | arousal CCC | VA CCC |", "|---|---|---|",
                f"| {m['val_ccc_valence']:.4f} | {m['val_ccc_arousal']:.4f} | **{m['val_va']:.4f}** |"]
        sm = (m.get("task_baselines") or {}).get("va", {}).get("smoothing")
        if sm:
            out.append(f"\nSmoothing: {sm['kind']} half-width {sm['width']}, chosen on out-of-fold training "
                       f"predictions (unsmoothed validation VA CCC {m.get('val_va_raw', float('nan')):.4f}).")
        pictures += [("va_scatter.png", "VA: predicted against true (validation)"),
                     ("va_series.png", "VA over one validation track")]
    if "val_au_f1" in m:
        out += ["", "## Action units (F1 per AU)", "", "| " + " | ".join(AU_NAMES) + " | mean |",
                "|" + "---|" * (len(AU_NAMES) + 1),
                "| " + " | ".join(f"{m[f'val_f1_{a}']:.3f}" for a in AU_NAMES) + f" | **{m['val_au_f1']:.4f}** |"]
        pp = (m.get("task_baselines") or {}).get("au", {}).get("postprocess")
        if pp:
            out.append("\nPer-AU thresholds " + ", ".join(f"{a} {t:.2f}" for a, t in zip(AU_NAMES, pp["thresholds"],
                                                                                      strict=True))
                       + " and smoothing half-widths, chosen on out-of-fold training probabilities.")
        if not (root / "au_f1.png").exists():
            plot_au_f1(m, root / "au_f1.png")
        pictures.append(("au_f1.png", "AU: per-AU F1 (validation)"))
    return out, pictures


def is_task_ensemble(m: dict[str, Any]) -> bool:
    """An ``exprnet ensemble`` of runs with VA or AU heads (metrics.json with ``per_task``)."""
    return m.get("kind") == "ensemble" and "per_task" in m


def task_ensemble_lines(m: dict[str, Any], root: Path) -> tuple[list[str], list[tuple[str, str]]]:
    """Markdown lines of a task ensemble: per task the ensemble beside each member and the best one,
    how it was combined, then each task's details (:func:`task_lines`); and the figures to show."""
    members = [mem["name"] for mem in m["members"]]
    out = [f"Ensemble of {len(members)} runs ({', '.join(members)}), {m.get('select', 'best')} checkpoints: tasks "
           f"{', '.join(t.upper() for t in m['tasks'])}.", "",
           "## Ensemble beside its members (validation)", "",
           "| task | metric | " + " | ".join(members) + " | best member | ensemble | combined as |",
           "|---|---|" + "---|" * len(members) + "---|---|---|"]
    for t, rec in m["per_task"].items():
        key, name = PRIMARY[t]
        out.append(f"| {t.upper()} | {name} | " + " | ".join(f"{v:.4f}" for v in rec["member"])
                   + f" | {rec['best_member']:.4f} | **{rec[key]:.4f}** | {rec.get('decision', '')} |")
    fitted = (m.get("task_post") or {}).get("fitted_on") or {}
    if fitted:
        out += ["", "Fitted on: " + "; ".join(f"{t.upper()} {v.get('chosen_on', v) if isinstance(v, dict) else v}"
                                              for t, v in fitted.items())]
    more, pictures = task_details(m, root)
    return out + more, pictures
