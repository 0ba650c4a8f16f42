"""Training runs: the loop, its loss and schedule, the run folder, and the commands that train.

- :mod:`.trainer`: the loop (R-Drop, truncated BPTT, validation, checkpoints, resume);
- :mod:`.losses`, :mod:`.schedule`, :mod:`.sampling`, :mod:`.augment`, :mod:`.ema`: what one
  optimisation step is made of (loss, learning rate, which segments, input dropout, weight average);
- :mod:`.runfolder`: the run folder's layout, read and written atomically;
- :mod:`.experiment`: the one run lifecycle (create, resume or skip a run folder);
- :mod:`.cv`, :mod:`.sweep`, :mod:`.executors`: many runs (folds, grids; here or on Ray);
- :mod:`.memory`: the process's allocator setting for long trainings.

May import: config, data, models, postprocess, reports (metrics, plots, progress), errors.
"""
