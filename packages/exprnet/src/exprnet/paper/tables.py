"""The seed paper's tables (Liu et al., ABAW5 2023) as data: ``paper/tables.csv``.

One CSV row per table row: Tables 1, 3 and 4 name the encoder and the visual and audio features
(in the paper's order) with the validation F1; Table 2 has the five cross-validation folds and
their mean; Table 3 ends with the vote ensemble over its nine rows.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import cache
from importlib import resources

TABLES = ("1", "2", "3", "4")
# Table 2 does not say which configuration it cross-validates; we assume Table 1 row 8 (the best
# single model).
TABLE2_PRESET = "t1-r8"
TITLES = {"1": "Table 1: single models on the validation set",
          "2": "Table 2: 5-fold cross-validation (folds 1-4 from Train_Set, fold 5 = Validation_Set), "
               f"assumed on Table 1 row 8 ({TABLE2_PRESET})",
          "3": "Table 3: the ensemble's members and the vote over them",
          "4": "Table 4: feature ablation, Transformer"}


@dataclass(frozen=True)
class PaperRow:
    table: str
    row: str  # "1".."9", or "mean" (Table 2), "ensemble" (Table 3)
    encoder: str  # lstm, transformer, vote, or "" (Table 2)
    visual: tuple[str, ...]
    audio: tuple[str, ...]
    f1: float

    @property
    def features(self) -> list[str]:
        return [*self.visual, *self.audio]

    @property
    def preset(self) -> str | None:
        """The preset of a model row (``t1-r8``); None for Table 2, the ensemble and the mean."""
        return f"t{self.table}-r{self.row}" if self.table != "2" and self.row.isdigit() else None


@cache
def paper_rows() -> tuple[PaperRow, ...]:
    text = resources.files("exprnet.paper").joinpath("tables.csv").read_text()
    return tuple(PaperRow(r["table"], r["row"], r["encoder"], tuple(r["visual"].split()),
                          tuple(r["audio"].split()), float(r["f1"]))
                 for r in csv.DictReader(io.StringIO(text)))


def table_rows(table: str) -> list[PaperRow]:
    return [r for r in paper_rows() if r.table == table]


def model_rows(tables: tuple[str, ...] = ("1", "3", "4")) -> list[PaperRow]:
    """The rows that are one trained model each (a preset each)."""
    return [r for r in paper_rows() if r.table in tables and r.preset]


def modality(feature: str) -> str | None:
    """'visual' or 'audio' for the paper's features (from its tables), None for others."""
    for r in paper_rows():
        if feature in r.visual:
            return "visual"
        if feature in r.audio:
            return "audio"
    return None
