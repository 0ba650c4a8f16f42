"""``exprnet reproduce``: the paper's Tables 1-4 as one command (plan, train, report)."""

from .plan import DEMO_STANDINS, Plan, RowPlan, make_plan, parse_standins
from .report import write_report
from .runner import reproduce

__all__ = ["DEMO_STANDINS", "Plan", "RowPlan", "make_plan", "parse_standins", "reproduce", "write_report"]
