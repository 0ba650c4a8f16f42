"""What users read: the challenge metric, progress and tables, PNG figures, REPORT.md.

- :mod:`.metrics`: mean per-class F1 (sklearn's macro F1 over the 8 classes) and confusions;
- :mod:`.progress`: the reporter protocol, rich bars and the console tables;
- :mod:`.plots`: training curves and confusion matrices as PNG;
- :mod:`.report`: ``exprnet report`` (REPORT.md of a run or an ensemble folder).

metrics, progress and plots import only :mod:`exprnet.config`, so every stage may use them;
report reads run folders (:mod:`exprnet.training.runfolder`) and is used by the CLI alone.
"""
