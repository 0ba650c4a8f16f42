"""The learning benchmark's targets (issue 13, docs/learning.md), read off its rows.

``bench/learning.py`` prints this table after its tables, one block per table it measured:

1. `recommended` (smoothed) beats the best smoothed built-in baseline by at least ``BAR``;
2. every encoder (smoothed) beats the best unsmoothed per-frame baseline by at least ``WIDE``;
3. the vote of 3 `recommended` seeds is at least as good as its best member, on average over the
   triples scored (every 3 of ``--vote-seeds`` seeds); the soft vote (mean probabilities) beside it;
4. training fits in memory: the process's peak RSS against the machine's physical memory, with
   the number of network runs it trained (runs reused from ``--work`` cost it nothing).

The decoding table (issue 25, bench/learning_decoding.py), everything fitted on training tracks:

5. `recommended` + its default decoding (``DEFAULT``) >= the best baseline with its best
   post-processing + ``BAR``;
6. `recommended` + decoding closes at least half of the gap between the same network with box
   smoothing, uncalibrated (the post-processing before issue 25) and its oracle (its own
   probabilities, true segments): what decoding adds to one model (docs/learning.md compares the
   preset before issue 25 by hand, from a run with ``--set loss.crf=0``);
7. 3 `recommended` seeds, calibrated, averaged, decoded once >= the triple's best decoded member,
   on average over the triples;
8. ECE of `recommended`'s validation probabilities after calibration <= ``ECE`` (mean over seeds;
   the other models' ECE printed beside it);
9. decoding (calibration, Viterbi path and marginals) < ``DECODE_SHARE`` of `recommended`'s
   prediction time on the same tracks.

A row kind missing from a table (``--only``, no ``--vote-seeds``) leaves its target unread there.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

BAR = 0.03
WIDE = 0.05  # "a wide margin": above any row's spread over seeds in docs/learning.md
ECE = 0.05
DECODE_SHARE = 0.05


def _mean(row: dict[str, Any]) -> float:
    return float(np.mean(row["f1"]))


def _line(table: str, target: str, measured: str, met: bool | None) -> str:
    verdict = "not read" if met is None else "met" if met else "NOT met"
    return f"| {table} | {target} | {measured} | {verdict} |"


def table_verdicts(table: str, rows: list[dict[str, Any]]) -> list[str]:
    """Targets 1-3 on one table's rows (each row has ``kind``; vote rows carry ``over``: each
    triple's F1 minus its best member's)."""
    def kind(k: str) -> list[dict[str, Any]]:
        return [r for r in rows if r.get("kind") == k]

    out = []
    rec, base = kind("recommended"), kind("baseline")
    if rec and base:
        best = max(base, key=_mean)
        d = _mean(rec[0]) - _mean(best)
        out.append(_line(table, f"recommended >= best baseline + {BAR}",
                         f"{_mean(rec[0]):.3f} vs {_mean(best):.3f} ({best['method']}): {d:+.3f}", d >= BAR))
    frame, enc = kind("frame"), kind("encoder")
    if frame and enc:
        ref, worst = max(frame, key=_mean), min(enc, key=_mean)
        d = _mean(worst) - _mean(ref)
        out.append(_line(table, f"every encoder >= best unsmoothed per-frame baseline + {WIDE}",
                         f"weakest {worst['method']} {_mean(worst):.3f} vs {_mean(ref):.3f}: {d:+.3f}", d >= WIDE))
    for k, what in (("vote", "vote"), ("mean", "soft vote")):
        for r in kind(k):
            over = np.asarray(r["over"])
            out.append(_line(table, f"{what} of 3 recommended seeds >= its best member",
                             f"{over.mean():+.3f} on average, >= it in {int((over >= 0).sum())} of {len(over)} "
                             f"triple(s)", over.mean() >= 0))
    return out


def memory_verdict(peak_gib: float, sizes: str, trained: int) -> str:
    """Read only where this process trained a run (reused runs say nothing of training's memory)."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    measured = f"peak RSS {peak_gib:.2f} GiB of {total:.1f} GiB, {trained} network run(s) trained here"
    return _line(sizes, "training fits in memory", measured, peak_gib < total if trained else None)


def targets_table(tables: list[tuple[str, list[dict[str, Any]]]], peak_gib: float, sizes: str,
                  trained: int, decoding: list[tuple[str, dict[str, Any]]] = (), default: str = "viterbi") -> str:
    lines = ["| table | target | measured | |", "|---|---|---|---|"]
    for title, rows in tables:
        lines += table_verdicts(title, rows)
    for title, summary in decoding:
        lines += decoding_verdicts(title, summary, default)
    return "\n".join([*lines, memory_verdict(peak_gib, sizes, trained)])


def decoding_verdicts(table: str, s: dict[str, Any], default: str) -> list[str]:
    """Targets 5-9 on one decoding summary (bench/learning_decoding.py's ``decoding_summary``)."""
    def m(r: dict[str, Any], key: str = "f1") -> float:
        return float(np.mean(r[key]))

    rows = s["rows"]
    rec = {r["spec"]: r for r in rows if r["model"].startswith("recommended")}
    base = [r for r in rows if r["model"].endswith(" baseline")]
    out = []
    if default in rec and base:
        best = max(base, key=m)
        d = m(rec[default]) - m(best)
        out.append(_line(table, f"recommended + {default} >= best baseline with its best post-processing + {BAR}",
                         f"{m(rec[default]):.3f} vs {m(best):.3f} ({best['model']} + {best['spec']}): {d:+.3f}",
                         d >= BAR))
    if default in rec and "box:raw" in rec:
        r0, r1, o = m(rec["box:raw"]), m(rec[default]), m(rec[default], "oracle")
        frac = (r1 - r0) / (o - r0) if o > r0 else float("nan")
        out.append(_line(table, "recommended's decoding closes >= half the gap (its box, uncalibrated -> its oracle)",
                         f"({r1:.3f} - {r0:.3f}) / ({o:.3f} - {r0:.3f}) = {frac:.2f}", frac >= 0.5))
    two = {r["spec"]: r for r in rows if r["model"].startswith("two-stage")}
    if default in two and base:
        best = max(base, key=m)
        d = m(two[default]) - m(best)
        out.append(_line(table, f"(two-stage, not in the preset) + {default} >= best baseline + {BAR}",
                         f"{m(two[default]):.3f} vs {m(best):.3f}: {d:+.3f}", d >= BAR))
    mixed = {r["spec"]: r for r in rows if r["model"].startswith("mixed")}
    for spec in ("viterbi", "hsmm"):
        if spec in mixed and base:
            best = max(base, key=m)
            d = m(mixed[spec]) - m(best)
            out.append(_line(table, f"({mixed[spec]['model']}) + {spec} >= best baseline + {BAR}",
                             f"{m(mixed[spec]):.3f} vs {m(best):.3f}: {d:+.3f}", d >= BAR))
    if s["ensembles"]:
        over = np.array([e["decode_once"] - e["best_member"] for e in s["ensembles"]])
        out.append(_line(table, f"3 recommended seeds, averaged then {default} >= best member",
                         f"{over.mean():+.3f} on average, >= it in {int((over >= 0).sum())} of {len(over)} triple(s)",
                         over.mean() >= 0))
    models = {r["model"]: r for r in rows}
    if "recommended" in models:
        after = m(models["recommended"], "ece_after")
        out.append(_line(table, f"ECE of recommended after calibration <= {ECE}",
                         ", ".join(f"{k} {m(r, 'ece_before'):.3f} -> {m(r, 'ece_after'):.3f}"
                                   for k, r in models.items()), after <= ECE))
    if default in rec:
        share = m(rec[default], "decode_share")
        out.append(_line(table, f"decoding < {DECODE_SHARE:.0%} of recommended's prediction time",
                         f"{share:.1%}", share < DECODE_SHARE))
    return out
