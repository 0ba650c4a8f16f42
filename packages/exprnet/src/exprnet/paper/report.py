"""OUT/REPORT.md and OUT/results.csv of a reproduction: per table row the paper's F1, the measured
mean ± sd over seeds, their difference, and how every feature used was made; for the authors' VA
model (``va``, no paper figure) each seed's validation CCCs and their mean ± sd.

Everything is read back from the run folders, so the report of a resumed or partly finished
reproduction shows what exists (a row without finished runs is reported as not run).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from featurizer.core.annotations import find_annotations
from featurizer.core.files import atomic_write_csv, atomic_write_text
from featurizer.core.identity import describe_identity
from featurizer.core.store import FeatureStore

from ..training.runfolder import RunFolder
from .plan import VA_TABLE, Plan, RowPlan
from .tables import TITLES, table_rows

NOT_RUN = "not run"
VA_METRICS = {"val_va": "VA CCC", "val_ccc_valence": "valence CCC", "val_ccc_arousal": "arousal CCC"}


def mean_sd(values: Sequence[float]) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation (None when undefined)."""
    v = [x for x in values if x is not None]
    if not v:
        return None, None
    return float(np.mean(v)), (float(np.std(v, ddof=1)) if len(v) > 1 else None)


def fmt(mean: float | None, sd: float | None) -> str:
    if mean is None:
        return NOT_RUN
    return f"{mean:.4f}" + (f" ± {sd:.4f}" if sd is not None else "")


def finished(folder: Path) -> dict[str, Any] | None:
    run = RunFolder(folder)
    if not run.finished():
        return None
    history = run.read_history()
    return {"best": float(run.read_metrics()["best_val_f1"]), "last": history[-1]["val_f1"] if history else None}


def va_finished(folder: Path) -> dict[str, Any] | None:
    """A finished VA run's best epoch and its CCCs there (``VA_METRICS``); ``last``: VA CCC at the
    last epoch, ``last_<metric>`` each CCC there (None where the history lacks it: runs before
    valence and arousal were recorded per epoch)."""
    run = RunFolder(folder)
    if not run.finished():
        return None
    m, history = run.read_metrics(), run.read_history()
    end = history[-1] if history else {}
    lasts = {f"last_{k}": None if end.get(k) in (None, "") else float(end[k]) for k in VA_METRICS}
    return {"best_epoch": int(m["best_epoch"]), "last": lasts["last_val_va"], **lasts,
            **{k: float(m[k]) for k in VA_METRICS}}


def provenance(plan: Plan) -> dict[str, dict[str, Any]]:
    """Store feature -> {modality, dim, weights_kind, made (one line), stands_in_for}."""
    reader = FeatureStore(plan.store, mode="r")
    tracks = sorted(t for t, a in find_annotations(plan.labels).items() if a.split)
    out = {}
    for f in plan.features:
        info = next((i for t in tracks if reader.has_track(t) and (i := reader.feature(t, f))), None)
        ident = info.identity if info else {}
        out[f] = {"modality": info.modality if info else "", "dim": info.dim if info else "",
                  "weights_kind": ident.get("weights_kind") or "not recorded",
                  "made": describe_identity(ident) if info else "missing from the store",
                  "stands_in_for": [p for p, s in plan.standins.items() if s == f and p != f]}
    return out


def provenance_text(features: Sequence[str], prov: dict[str, dict[str, Any]]) -> str:
    parts = []
    for f in features:
        p = prov[f]
        standin = f"; stand-in for {', '.join(p['stands_in_for'])}" if p["stands_in_for"] else ""
        parts.append(f"{f}: {p['made']} (weights kind: {p['weights_kind']}{standin})")
    return " | ".join(parts)


def row_record(rp: RowPlan, prov: dict[str, dict[str, Any]]) -> dict[str, Any]:
    got = [r for _, folder in rp.runs if (r := finished(folder))]
    best, sd = mean_sd([r["best"] for r in got])
    last, _ = mean_sd([r["last"] for r in got])
    return {"table": rp.row.table, "row": rp.row.row, "preset": rp.preset, "encoder": rp.row.encoder,
            "paper_features": "+".join(rp.row.features), "features_used": "+".join(rp.features),
            "metric": "val_f1", "paper_f1": rp.row.f1, "measured_mean": best, "measured_sd": sd, "seeds_done": len(got),
            "difference": None if best is None else best - rp.row.f1, "measured_last_epoch_mean": last,
            "runs": " ".join(str(f) for _, f in rp.runs), "provenance": provenance_text(rp.features, prov)}


def cv_records(plan: Plan, prov: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    assert plan.cv is not None
    per_fold: dict[str, list[float]] = {}
    for _, folder in plan.cv.runs:
        path = folder / "cv.json"
        if path.exists():
            res = json.loads(path.read_text())
            for f in res["folds"]:
                per_fold.setdefault(str(f["fold"]), []).append(float(f["best_val_f1"]))
            per_fold.setdefault("mean", []).append(float(res["mean_f1"]))
    out = []
    for r in table_rows("2"):
        best, sd = mean_sd(per_fold.get(r.row, []))
        out.append({"table": "2", "row": r.row, "preset": plan.cv.preset, "encoder": plan.cv.row.encoder,
                    "paper_features": "+".join(plan.cv.row.features), "features_used": "+".join(plan.cv.features),
                    "metric": "val_f1", "paper_f1": r.f1, "measured_mean": best, "measured_sd": sd,
                    "seeds_done": len(per_fold.get(r.row, [])), "difference": None if best is None else best - r.f1,
                    "measured_last_epoch_mean": None, "runs": " ".join(str(f) for _, f in plan.cv.runs),
                    "provenance": provenance_text(plan.cv.features, prov)})
    return out


def vote_record(plan: Plan) -> dict[str, Any]:
    paper = next(r for r in table_rows("3") if r.row == "ensemble")
    got = [json.loads(p.read_text())["selection"] for k in range(plan.seeds)
           if (p := plan.vote_folder(k) / "metrics.json").exists()]
    best, sd = mean_sd([g["best"]["val_f1"] for g in got])
    last, _ = mean_sd([g["last"]["val_f1"] for g in got])
    return {"table": "3", "row": "ensemble", "preset": "vote over t3-r1..t3-r9", "encoder": "vote",
            "paper_features": "", "features_used": "", "metric": "val_f1", "paper_f1": paper.f1, "measured_mean": best,
            "measured_sd": sd, "seeds_done": len(got), "difference": None if best is None else best - paper.f1,
            "measured_last_epoch_mean": last,
            "runs": " ".join(str(plan.vote_folder(k)) for k in range(plan.seeds)), "provenance": ""}


def va_records(plan: Plan, prov: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One results.csv row per VA metric (``metric`` names it); no paper figure, so no difference."""
    out = []
    for rp in (r for r in plan.rows if r.row.table == VA_TABLE):
        got = [r for _, folder in rp.runs if (r := va_finished(folder))]
        for key in VA_METRICS:
            mean, sd = mean_sd([r[key] for r in got])
            out.append({"table": VA_TABLE, "row": rp.row.row, "preset": rp.preset, "encoder": rp.row.encoder,
                        "paper_features": "+".join(rp.row.features), "features_used": "+".join(rp.features),
                        "metric": key, "paper_f1": None, "measured_mean": mean, "measured_sd": sd,
                        "seeds_done": len(got), "difference": None,
                        "measured_last_epoch_mean": mean_sd([r[f"last_{key}"] for r in got])[0],
                        "runs": " ".join(str(f) for _, f in rp.runs), "provenance": provenance_text(rp.features, prov)})
    return out


def va_markdown(plan: Plan) -> list[str]:
    """REPORT.md's VA section: per seed and mean ± sd the validation CCCs, best and last epoch."""
    lines = ["", "## VA (the authors' released model)", "",
             "**The paper publishes no VA figure** (its tables are EXPR only): nothing here is compared with the "
             "paper. Validation concordance correlation coefficients over every annotated frame of the validation "
             "tracks; VA CCC = the mean of the valence and arousal CCC (the challenge metric). *Best epoch*: the "
             "epoch with the best VA CCC (chosen on the validation labels, so optimistic), with its valence and "
             "arousal CCC; *last epoch*: the VA CCC at the last epoch (no selection)."]
    for rp in (r for r in plan.rows if r.row.table == VA_TABLE):
        lines += ["", f"Preset `{rp.preset}`: {rp.row.encoder} on {', '.join(rp.row.features)} (features used: "
                      f"{', '.join(rp.features)}); loss (1 - CCC valence) + (1 - CCC arousal).", "",
                  "| seed | run | best epoch | VA CCC | valence CCC | arousal CCC | VA CCC, last epoch |",
                  "|---|---|---|---|---|---|---|"]
        got = []
        for seed, folder in rp.runs:
            r = va_finished(folder)
            got += [r] if r else []
            lines.append(f"| {seed} | `{folder.name}` | " + (" | ".join(
                [str(r["best_epoch"]), *(fmt(r[k], None) for k in VA_METRICS), fmt(r["last"], None)]) if r else
                " | ".join([NOT_RUN] * 5)) + " |")
        stats = [fmt(*mean_sd([r[k] for r in got])) for k in [*VA_METRICS, "last"]]
        lines.append(f"| mean ± sd ({len(got)} of {len(rp.runs)}) | | | " + " | ".join(stats) + " |")
    return lines


def write_report(plan: Plan) -> Path:
    prov = provenance(plan)
    records: list[dict[str, Any]] = []
    for table in plan.tables:
        if table == "2":
            records += cv_records(plan, prov)
            continue
        if table == VA_TABLE:
            records += va_records(plan, prov)
            continue
        records += [row_record(rp, prov) for rp in plan.rows if rp.row.table == table]
        if table == "3":
            records.append(vote_record(plan))
    plan.out.mkdir(parents=True, exist_ok=True)
    atomic_write_csv(plan.out / "results.csv", records)
    atomic_write_text(plan.out / "REPORT.md", "\n".join(markdown(plan, records, prov)) + "\n")
    return plan.out / "REPORT.md"


def markdown(plan: Plan, records: list[dict[str, Any]], prov: dict[str, dict[str, Any]]) -> list[str]:
    seeds = sorted({s for rp in [*plan.rows, *([plan.cv] if plan.cv else [])] for s, _ in rp.runs})
    va = plan.tables == [VA_TABLE]
    lines = ["# Reproducing the paper's tables" if not va else "# Reproducing the authors' VA model", "",
             'Liu et al., "Multi-modal Expression Recognition with Ensemble Method" (ABAW5, CVPR-W 2023): ' + (
                 "the authors' released valence-arousal model, which the paper does not report on: our validation "
                 "CCCs only." if va else "validation F1 (mean of the 8 per-class F1) of each table row, beside ours."),
             "", f"- store `{plan.store}`, labels `{plan.labels}` ({plan.n_tracks} tracks); {plan.seeds} seed(s) per "
             f"row, counting up from the preset's seed (seeds used: {', '.join(map(str, seeds))})" + ("." if va else
             "; measured = validation F1 at the best epoch, mean ± sample sd over seeds; difference = measured - "
             "paper; *last epoch* = the F1 at the last epoch (no selection on the validation labels).")]
    if plan.standins:
        lines.append("- **Stand-in features**: these runs do NOT use the paper's features; each paper feature "
                     "is replaced by a store feature (" + ", ".join(f"{p} -> {s}" for p, s in plan.standins.items())
                     + "), and a row's features are merged where they coincide. The numbers measure the paper's "
                     "models and settings on other inputs, not a reproduction of its results.")
    if plan.overrides:
        lines.append(f"- **Overrides of the authors' settings** (`--set`): `{json.dumps(plan.overrides)}`.")
    for table in plan.tables:
        if table == VA_TABLE:
            lines += va_markdown(plan)
            continue
        rows = [r for r in records if r["table"] == table]
        lines += ["", f"## {TITLES[table]}", ""]
        if table == "2":
            lines += ["| fold | paper F1 | measured | difference |", "|---|---|---|---|"]
            lines += [f"| {r['row']} | {r['paper_f1']:.5f} | {fmt(r['measured_mean'], r['measured_sd'])} | "
                      f"{_diff(r)} |" for r in rows]
            continue
        lines += ["| row | preset | model | features (paper) | features used | paper F1 | measured | difference "
                  "| last epoch |", "|---|---|---|---|---|---|---|---|---|"]
        for r in rows:
            lines.append(f"| {r['row']} | {r['preset']} | {r['encoder']} | {r['paper_features'].replace('+', ', ')} | "
                         f"{r['features_used'].replace('+', ', ')} | {r['paper_f1']:.5f} | "
                         f"{fmt(r['measured_mean'], r['measured_sd'])} | {_diff(r)} | "
                         f"{fmt(r['measured_last_epoch_mean'], None)} |")
        if table == "3":
            lines += ["", "The vote's *measured* uses each member at its best validation epoch (chosen on the "
                          "validation labels, so optimistic); *last epoch* uses each member's last epoch."]
    lines += ["", "## Feature provenance", "", "| feature | stands in for | modality | dim | weights kind | how it was made |",
              "|---|---|---|---|---|---|"]
    lines += [f"| {f} | {', '.join(p['stands_in_for']) or '-'} | {p['modality']} | {p['dim']} | {p['weights_kind']} | "
              f"{p['made']} |" for f, p in prov.items()]
    return lines


def _diff(r: dict[str, Any]) -> str:
    return "" if r["difference"] is None else f"{r['difference']:+.4f}"
