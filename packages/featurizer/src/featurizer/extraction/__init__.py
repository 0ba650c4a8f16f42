"""Extraction: a job over many videos, down to one array per (track, model) in the store.

The flow of one video, top down: :mod:`.pipeline` (``run_job``: check the job, plan the inputs,
open the store) -> :mod:`.executors` (where sources run: this process or Ray) -> :mod:`.write`
(skip what is complete, write atomically, failures become results) -> :mod:`.compute` (one
decode, every model, rows = label frames) -> :mod:`.audio_rows` (an audio model over a whole
track). :mod:`.job` is the job as plain data, :mod:`.results` what a run reports, and
:mod:`.interchange` brings features made elsewhere in and takes them out.

May import: :mod:`featurizer.core`, :mod:`featurizer.media`, :mod:`featurizer.models`,
:mod:`featurizer.faces`, the root's errors and progress.
"""
