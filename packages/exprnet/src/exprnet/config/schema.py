"""Run configuration: pydantic models, layered sources (defaults < preset < file < flags < --set).

``None`` in a model field means "the encoder's default"; :meth:`RunConfig.resolved` fills those in,
and the resolved config is what a run folder records.
"""

from __future__ import annotations

from typing import Any, Literal

from featurizer.core.classes import EXPR_CLASSES
from featurizer.core.classes import N_CLASSES as N_EXPR
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..errors import ConfigError

CLASSES, N_CLASSES = EXPR_CLASSES, N_EXPR  # the core's class list, under exprnet's names

ENCODERS = ("lstm", "bilstm", "transformer", "tcn", "mlp")
# Encoder-specific defaults for fields left at None.
# Sizes for data of Aff-Wild2's scale and smaller (docs/learning.md); the paper's Transformer
# (1024 wide, 4 layers) is what its presets set.
ENCODER_DEFAULTS: dict[str, dict[str, int]] = {
    "lstm": {"d_model": 128, "hidden": 128, "layers": 1, "segment": 64},
    "bilstm": {"d_model": 128, "hidden": 128, "layers": 1, "segment": 128},
    "transformer": {"d_model": 128, "hidden": 256, "layers": 2, "segment": 128},
    "tcn": {"d_model": 128, "hidden": 128, "layers": 6, "segment": 128},
    "mlp": {"d_model": 128, "hidden": 128, "layers": 1, "segment": 128},
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DataConfig(_Strict):
    store: str | None = None
    # A task's annotation folder (EXPR_Set, VA_Set or AU_Set: the task from its files' header), or
    # a list of them (one per task: a multi-task run); exprnet.data.tasks.
    labels: str | list[str] | None = None
    features: list[str] = Field(default_factory=list)
    present_flags: Literal["none", "feature", "modality"] = "none"
    on_missing: Literal["error", "skip"] = "error"
    memmap: str | None = None
    train_split: str = "Train_Set"
    val_split: str = "Validation_Set"
    train_tracks: list[str] | None = None
    val_tracks: list[str] | None = None
    # Standardise features with training statistics, per track (each track's own mean/std), or not.
    normalize: Literal["train", "track", "none"] = "track"
    # Frames labelled -1: kept as unlabelled context (no loss), or dropped before cutting segments
    # (the authors' code; with data.pad: repeat, as they pad).
    unlabelled: Literal["context", "drop"] = "context"
    # A segment shorter than model.segment (a track's last): padded with masked zeros, or by
    # repeating its final frame (and label), as the authors' code does.
    pad: Literal["mask", "repeat"] = "mask"
    # Training-time input dropout: single feature columns, and whole features (all columns of one).
    feature_dropout: float = Field(0.0, ge=0, lt=1)
    modality_dropout: float = Field(0.0, ge=0, lt=1)
    # A speech-probability feature among the features (vad): where it is below 0.5, the other audio
    # features are fed as dropped (zero, flagged absent); exprnet.data.gate.
    speech_gate: str | None = None

    @field_validator("labels")
    @classmethod
    def _one_folder_as_a_string(cls, v: Any) -> Any:
        """One folder is recorded as a string (as before multi-task runs), none as None."""
        if isinstance(v, list):
            if len(set(v)) != len(v):
                raise ValueError(f"a labels folder is listed twice: {', '.join(sorted({x for x in v if v.count(x) > 1}))}")
            return v[0] if len(v) == 1 else (v or None)
        return v

    @field_validator("features", mode="before")
    @classmethod
    def _split_features(cls, v: Any) -> Any:
        if isinstance(v, str):
            v = [s for s in (p.strip() for p in v.split(",")) if s]
        return v

    @field_validator("features")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        dup = sorted({f for f in v if v.count(f) > 1})
        if dup:
            raise ValueError(f"feature(s) listed twice: {', '.join(dup)}")
        return v

    @model_validator(mode="after")
    def _gate_is_a_feature(self) -> DataConfig:
        if self.speech_gate and self.features and self.speech_gate not in self.features:
            raise ValueError(f"data.speech_gate {self.speech_gate!r} must be one of data.features "
                             f"({', '.join(self.features)})")
        return self


class ModelConfig(_Strict):
    encoder: Literal["lstm", "bilstm", "transformer", "tcn", "mlp"] = "lstm"
    d_model: int | None = Field(None, gt=0)
    hidden: int | None = Field(None, gt=0)
    layers: int | None = Field(None, gt=0)
    heads: int = Field(4, gt=0)
    dropout: float = Field(0.3, ge=0, lt=1)
    activation: Literal["relu", "gelu"] = "relu"
    head: list[int] = Field(default_factory=lambda: [128])  # the paper's: [512, 256]
    head_dropout: float | None = Field(None, ge=0, lt=1)  # dropout in the head MLP (None: model.dropout)
    segment: int | None = Field(None, gt=0)
    stride: int | None = Field(None, gt=0)
    infer_stride: int | None = Field(None, gt=0)
    checkpoint: bool = False  # Transformer: activation checkpointing (less memory, ~1/3 more compute)
    # Fusion (the paper's eq. 1 is one linear layer): "linear", or "linear_act_dropout" (+ activation, dropout).
    fusion: Literal["linear", "linear_act_dropout"] = "linear_act_dropout"
    fusion_bias: bool = True
    pos_dropout: bool = True  # Transformer: dropout after the positional encoding
    norm_first: bool = True  # Transformer: pre-norm layers
    causal: bool = False  # TCN: causal convolutions
    kernel: int = Field(3, gt=0)  # TCN kernel size


class TrainConfig(_Strict):
    epochs: int = Field(25, gt=0)
    batch_size: int = Field(8, gt=0)  # segments per step: small data needs steps more than width
    eval_batch_size: int | None = Field(None, gt=0)
    steps: int | None = Field(None, gt=0)  # optimizer steps instead of epochs (validation every epoch-sized block)
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    optimizer: Literal["adam", "adamw"] = "adam"  # adamw: decoupled weight decay (Loshchilov & Hutter)
    schedule: Literal["step", "cosine", "constant"] = "cosine"
    warmup: float = Field(0.05, ge=0, lt=1)  # fraction of training spent warming the lr up
    step_size: int = Field(10, gt=0)
    gamma: float = Field(0.5, gt=0)
    patience: int | None = Field(None, gt=0)  # early stopping: epochs without a better val F1
    grad_clip: float | None = Field(1.0, gt=0)  # max gradient norm (null: none)
    ema: float | None = Field(None, gt=0, lt=1)  # decay of a moving average of the weights, per step (null: off)
    segment_jitter: bool = False  # cut each track's training segments at a random phase every epoch
    sampling: Literal["uniform", "balanced", "sqrt"] = "uniform"  # draw segments by their classes' rarity
    seed: int = 0
    device: Literal["cpu", "cuda", "auto"] = "auto"
    amp: bool = True
    prefetch: int = Field(2, ge=0)
    threads: int | None = Field(None, gt=0)



class LossConfig(_Strict):
    """R-Drop over (weighted / focal / logit-adjusted) cross-entropy."""

    rdrop: bool = True
    alpha: float = Field(1.0, ge=0)  # the paper: 5 (with plain CE; with class weights it can pin the output at uniform)
    class_weights: Literal["none", "balanced", "sqrt"] | list[float] = "balanced"
    logit_adjust: float = Field(0.0, ge=0)  # tau of logit adjustment by log class priors (0: off)
    focal_gamma: float = Field(0.0, ge=0)  # focal loss gamma (0: plain cross-entropy)
    label_smoothing: float = Field(0.0, ge=0, lt=1)  # share of each frame's target spread evenly over the classes
    crf: float = Field(0.0, ge=0)  # weight of a segment-level loss: a linear-chain CRF's NLL (training/crf.py)
    # Multi-task runs (several --labels): each task's loss weight (a task without labels in a batch
    # adds nothing); the VA loss (1 - CCC valence) + (1 - CCC arousal) + va_mse * MSE; the AU loss a
    # BCE with per-AU positive weights (negatives / positives on the training frames) or plain.
    task_weights: dict[Literal["expr", "va", "au"], float] = Field(
        default_factory=lambda: {"expr": 1.0, "va": 1.0, "au": 1.0})
    va_mse: float = Field(0.0, ge=0)
    au_pos_weight: bool = True

    @field_validator("task_weights")
    @classmethod
    def _non_negative_weights(cls, v: dict[str, float]) -> dict[str, float]:
        bad = [k for k, w in v.items() if not w >= 0]
        if bad:
            raise ValueError(f"task weights must be >= 0 ({', '.join(bad)})")
        return {"expr": 1.0, "va": 1.0, "au": 1.0} | v

    @field_validator("class_weights")
    @classmethod
    def _eight(cls, v: Any) -> Any:
        if isinstance(v, list) and len(v) != N_CLASSES:
            raise ValueError(f"class_weights needs {N_CLASSES} numbers, got {len(v)}")
        return v


class SmoothConfig(_Strict):
    """Post-processing of predicted probabilities within each track (never across two).

    ``kind``: a smoothing (``box``, ``gauss``, ``median``: ``width`` is the half-width k, box and
    median 2k+1 frames, gauss sigma k/2 cut at k) or a decoder (``viterbi``: an HMM over the
    classes; ``hsmm``: with explicit segment durations; ``weight`` is the emission weight). ``auto``
    is chosen on the training tracks, never on the validation tracks. ``calibrate``: temperature
    scaling (``bias``: and per-class biases) fitted on the training predictions first; ``auto``:
    temperature where those predictions are out of fold (a baseline; a network with ``folds``),
    none on a network's in-sample predictions (they are more confident than held-out ones: a
    temperature fitted on them makes validation calibration worse, docs/learning.md). ``folds``:
    networks only: the training predictions calibration and ``auto`` are fitted on come from this
    many extra trainings, each without one group of training source videos (out of fold); 0: the
    run's own, in-sample predictions. ``baseline``: ``auto`` blends the network's EXPR probabilities
    with a class-balanced logistic regression on the same inputs, the weight chosen out of fold on
    the ``folds`` sub-runs' groups (:mod:`exprnet.training.blend`); in a run without EXPR, each VA/AU
    head with its task baseline (:mod:`exprnet.training.task_blend`); ``none``: the network alone.
    """

    kind: Literal["none", "box", "gauss", "median", "viterbi", "hsmm"] = "box"
    width: int | Literal["auto"] = Field("auto")
    weight: float | Literal["auto"] = Field("auto")
    calibrate: Literal["auto", "none", "temperature", "bias"] = "auto"
    folds: int = Field(0, ge=0)
    baseline: Literal["none", "auto"] = "none"

    @field_validator("width")
    @classmethod
    def _non_negative(cls, v: Any) -> Any:
        if isinstance(v, int) and v < 0:
            raise ValueError("width must be >= 0 or auto")
        return v

    @field_validator("weight")
    @classmethod
    def _positive(cls, v: Any) -> Any:
        if isinstance(v, (int, float)) and not v > 0:
            raise ValueError("weight must be > 0 or auto")
        return v

    @field_validator("folds")
    @classmethod
    def _two(cls, v: int) -> int:
        if v == 1:
            raise ValueError("folds must be 0 (in-sample) or at least 2")
        return v

    @model_validator(mode="after")
    def _blend_out_of_fold(self) -> SmoothConfig:
        if self.baseline == "auto" and self.folds < 2:
            raise ValueError("baseline: auto chooses its weight out of fold and needs folds >= 2 (e.g. folds: 3), "
                             "or set baseline: none")
        return self


class BaselineConfig(_Strict):
    """``exprnet baseline``: a per-frame classifier (class-balanced), then smoothing."""

    classifier: Literal["logreg", "mlp"] = "logreg"
    hidden: int = Field(128, gt=0)  # mlp: hidden units
    max_frames: int = Field(200_000, gt=0)  # labelled training frames fitted on (a random subset beyond)
    folds: int = Field(3, ge=2)  # cross-validation folds (by source video) for the smoothing width


class RunConfig(_Strict):
    name: str = "run"
    description: str = ""
    paper: dict[str, Any] | None = None
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    loss: LossConfig = Field(default_factory=LossConfig)
    smooth: SmoothConfig = Field(default_factory=SmoothConfig)
    baseline: BaselineConfig | None = None  # set in the run folders `exprnet baseline` writes

    @property
    def model_name(self) -> str:
        """What made the predictions: the encoder, or ``baseline-logreg`` / ``baseline-mlp``."""
        return f"baseline-{self.baseline.classifier}" if self.baseline else self.model.encoder

    @model_validator(mode="after")
    def _consistent(self) -> RunConfig:
        m = self.model
        if m.encoder == "lstm" and m.stride is not None and m.segment is not None and m.stride != m.segment:
            raise ValueError("the LSTM walks segments back to back: model.stride must equal model.segment")
        if m.encoder == "lstm" and self.train.sampling != "uniform":
            raise ValueError(f"train.sampling: {self.train.sampling} draws shuffled segments, but the LSTM walks each track in "
                             "order; use it with bilstm, tcn, transformer or mlp")
        return self

    def resolved(self) -> RunConfig:
        """A copy with every encoder default filled in (what a run folder records)."""
        d = self.model_dump()
        m = d["model"]
        for k, v in ENCODER_DEFAULTS[m["encoder"]].items():
            if m[k] is None:
                m[k] = v
        if m["encoder"] == "lstm":
            m["stride"] = m["segment"]
            m["infer_stride"] = m["segment"]
        else:
            m["stride"] = m["stride"] or m["segment"]
            m["infer_stride"] = m["infer_stride"] or max(1, m["segment"] // 2)
            if m["infer_stride"] > m["segment"]:
                raise ConfigError("model.infer_stride", f"{m['infer_stride']} exceeds model.segment={m['segment']} "
                                  "(frames would be skipped)", "use model.segment for non-overlapping segments")
            if m["encoder"] == "transformer" and m["d_model"] % m["heads"]:
                raise ConfigError("model.d_model", f"{m['d_model']} is not divisible by model.heads={m['heads']}")
        if d["train"]["eval_batch_size"] is None:
            d["train"]["eval_batch_size"] = d["train"]["batch_size"]
        return RunConfig.model_validate(d)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
