"""What every exprnet command shares: the Typer app, the consoles, one-line errors, the config flags."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from featurizer.core import console as say

from ..errors import ExprnetWarning, InputError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  rich_markup_mode=say.markup_mode(),
                  help="Train fused temporal encoders (LSTM, Transformer) with R-Drop on stored "
                       "per-frame features; cross-validate; predict ABAW submissions; reproduce the paper.")


io = say.Consoles()  # stdout and stderr, renewed per invocation so each call takes its width


@app.callback()
def _consoles() -> None:
    io.renew()


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Print exprnet errors and warnings once, in plain words, on one line; exit 2 on an error."""

    def show(message: Any, category: type, *args: Any, **kw: Any) -> None:
        label = "warning" if issubclass(category, ExprnetWarning) else category.__name__
        say.line(io.err, label, message)

    with warnings.catch_warnings():
        warnings.showwarning = show
        try:
            yield
        except InputError as e:  # exprnet's own, and the core's store and annotation errors
            say.error(io.err, e)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            say.line(io.err, "interrupted", "`exprnet train --resume RUN` continues from the last saved epoch")
            raise typer.Exit(130) from None


# -- options shared by train and cv -----------------------------------------------------------
Store = Annotated[str | None, typer.Option(help="Feature store (Zarr; path or fsspec URL).")]
Labels = Annotated[str | None, typer.Option(help="Annotation folder (Train_Set/, Validation_Set/ below it).")]
TaskLabels = Annotated[list[str] | None, typer.Option(
    "--labels", help="A task's annotation folder (Train_Set/, Validation_Set/ below it): EXPR_Set, VA_Set or "
                     "AU_Set, the task from its files' header. Repeat it for a multi-task run "
                     "(--labels EXPR_Set --labels VA_Set --labels AU_Set).")]
Features = Annotated[str | None, typer.Option(help="Comma-separated feature names, concatenated in this order.")]
Encoder = Annotated[str | None, typer.Option(help="lstm, bilstm, transformer, tcn or mlp.")]
ConfigFile = Annotated[Path | None, typer.Option("--config", help="YAML config (data:, model:, train:).")]
Sets = Annotated[list[str] | None, typer.Option("--set", help="KEY=VALUE override, e.g. model.dropout=0.1 (repeatable).")]
Preset = Annotated[str | None, typer.Option(help="A shipped preset (`exprnet presets`).")]
Epochs = Annotated[int | None, typer.Option(help="train.epochs")]
Steps = Annotated[int | None, typer.Option(help="train.steps: optimizer steps instead of epochs")]
BatchSize = Annotated[int | None, typer.Option(help="train.batch_size (segments per batch)")]
Lr = Annotated[float | None, typer.Option(help="train.lr")]
Seed = Annotated[int | None, typer.Option(help="train.seed")]
Segment = Annotated[int | None, typer.Option(help="model.segment (frames)")]
DModel = Annotated[int | None, typer.Option(help="model.d_model (fusion / Transformer width)")]
Layers = Annotated[int | None, typer.Option(help="model.layers")]
Heads = Annotated[int | None, typer.Option(help="model.heads (Transformer)")]
Hidden = Annotated[int | None, typer.Option(help="model.hidden (LSTM hidden size / Transformer feed-forward)")]
Device = Annotated[str | None, typer.Option(help="cpu, cuda or auto")]
AllowMismatch = Annotated[bool, typer.Option(
    "--allow-feature-mismatch", help="Use a store whose features were made differently from the runs' "
                                     "(another model, weights or timing) with a warning instead of an error.")]

SmoothOpt = Annotated[str, typer.Option(
    "--smooth", help="Post-processing of the (calibrated) probabilities within each track: none; box, gauss "
                     "or median with :WIDTH (frames each side); viterbi (HMM) or hsmm (explicit durations) with "
                     ":WEIGHT (emission weight); or KIND:auto (chosen on the training tracks), e.g. box:12, "
                     "viterbi:auto; 'run': as the run recorded.")]

