"""Run configuration: what every stage reads, and nothing else.

- :mod:`.schema`: the pydantic models of a run's config (data, model, train, loss, smooth,
  baseline), the layering of sources and the class list under exprnet's names; re-exported here;
- :mod:`.compose`: a run's config from its sources (defaults < preset < file < flags <
  ``--set``): ``make_config``, re-exported here;
- :mod:`.presets`: the YAML presets shipped with the package (``recommended``, the demos, and
  one per row of the paper's tables, whose table data lives in :mod:`exprnet.paper`).

May import: :mod:`exprnet.errors` and featurizer's core.
"""

from .compose import FLAG_KEYS, load_run_config, make_config, parse_set, read_yaml
from .layers import build_config, deep_merge
from .schema import (
    CLASSES,
    ENCODER_DEFAULTS,
    ENCODERS,
    N_CLASSES,
    BaselineConfig,
    DataConfig,
    LossConfig,
    ModelConfig,
    RunConfig,
    SmoothConfig,
    TrainConfig,
)

__all__ = ["CLASSES", "ENCODERS", "ENCODER_DEFAULTS", "FLAG_KEYS", "N_CLASSES", "BaselineConfig", "DataConfig", "LossConfig",
           "ModelConfig", "RunConfig", "SmoothConfig", "TrainConfig", "build_config", "deep_merge",
           "load_run_config", "make_config", "parse_set", "read_yaml"]
