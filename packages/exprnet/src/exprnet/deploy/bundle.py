"""A trained ensemble as one self-contained, versioned folder: written, verified, loaded, applied.

    B/bundle.json                 format_version, id, members, combination, post-processing,
                                  the class list and the sha256 of every other file
    B/recipe.json                 the feature recipe (:mod:`.recipe`)
    B/members/<k>-<name>/         config.yaml (resolved), features.json (the identities it was
                                  trained on), stats.safetensors (normalisation), and
                                  weights.safetensors (a network's state dict) or
                                  classifier.safetensors (a baseline's weight matrices)
    B/metrics.json                the ensemble's validation scores (``exprnet ensemble``)
    B/confusion.png, B/MODEL_CARD.md
    B/bundle.sig                  optional: an Ed25519 signature over bundle.json (:mod:`.signing`)

Nothing is pickled. Loading (:mod:`.verify`) reads nothing outside the folder and follows no link (:mod:`.contents`),
checks the signature when trusted keys are given, the format version, every file's sha256, the
bundle id, the class list, and that each member's inputs have the recipe's widths (its weights load
strictly into a network of that input width); each problem is one
:class:`~exprnet.errors.BundleError` naming the file. :meth:`Bundle.predict_store` applies the members (each with its calibration), the
combination and the post-processing to tracks of a store: the same code as ``exprnet predict`` and ``exprnet ensemble``.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from featurizer.core.classes import EXPR_CLASSES
from featurizer.core.files import atomic_write_bytes, atomic_write_json
from featurizer.core.store import FeatureStore

from .. import __version__
from ..data.bank import FeatureBank, load_bank
from ..ensemble.combine import Combiner
from ..errors import BundleError, VideoError
from ..postprocess.processor import Decoded, PostProcessor, processor_from_dict
from ..prediction.predict import LoadedRun, check_bank
from ..reports.progress import NullReporter, Reporter
from . import signing
from .contents import MANIFEST, SIGNATURE
from .members import Member, dropped, load_member, write_member
from .recipe import Recipe
from .tasks import (
    TaskPost,
    TrackOutputs,
    check_member_tasks,
    expr_sliced,
    member_tasks_of,
    run_chain,
    task_outputs,
)
from .verify import (  # noqa: F401  (bundle_id, sha256_bytes, FORMAT_VERSION: this module's names too)
    FORMAT_VERSION,
    TASKS_FORMAT_VERSION,
    bundle_id,
    check_manifest,
    read_manifest,
    sha256_bytes,
    verified_files,
)


# -- writing --------------------------------------------------------------------------------------
def write_bundle(out: str | Path, members: list[tuple[str, LoadedRun, float | None]], combiner: Combiner,
                 post: list[PostProcessor], recipe: Recipe, extra_files: dict[str, bytes],
                 info: dict[str, Any], overwrite: bool = False,
                 calibrations: list[dict[str, Any] | None] | None = None, sign: Any = None,
                 tasks: list[str] | None = None, task_post: TaskPost | None = None,
                 member_tasks: list[list[str]] | None = None) -> Path:
    """Write the bundle into a temporary folder beside ``out``, then move it into place (a killed
    write leaves no half bundle). ``members``: (name, loaded run, validation F1); ``extra_files``:
    more files (the card, metrics, figures) by relative path; ``info``: what the manifest says
    about the training (``trained_on``, ``validation``); ``calibrations``: each member's
    calibration (a processor dict, or None), applied to its probabilities before the combination;
    ``sign``: an Ed25519 private key (:func:`.signing.load_private_key`) to sign the manifest with;
    ``tasks``/``task_post``: a bundle of VA or AU (:mod:`.tasks`); ``member_tasks``: each member's
    own tasks (default: ``tasks``)."""
    multi = tasks is not None and list(tasks) != ["expr"]
    out = Path(out)
    if out.exists() and not overwrite:
        raise BundleError(str(out), "exists already", "choose another --out, or pass --overwrite")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.tmp-"))
    try:
        entries = []
        cals = list(calibrations or [None] * len(members))
        own = list(member_tasks or [list(tasks or [])] * len(members))
        for k, ((name, lr, f1), cal, mt) in enumerate(zip(members, cals, own, strict=True), start=1):
            entry = write_member(tmp, f"members/{k}-{_safe(name)}", lr)
            entries.append({**entry, "name": name, "val_f1": f1, "calibration": cal,
                            **({"tasks": list(mt)} if multi else {})})
        atomic_write_json(tmp / "recipe.json", recipe.to_dict())
        for rel, data in extra_files.items():
            atomic_write_bytes(tmp / rel, data)
        files = {p.relative_to(tmp).as_posix(): sha256_bytes(p.read_bytes())
                 for p in sorted(tmp.rglob("*")) if p.is_file()}
        manifest: dict[str, Any] = {
            "format_version": TASKS_FORMAT_VERSION if multi else FORMAT_VERSION, "id": "", "created": _now(), "exprnet": __version__,
            "classes": list(EXPR_CLASSES), "models": recipe.models, "members": entries,
            "combination": {"method": combiner.method, "weights": [float(w) for w in combiner.weights],
                            "class_bias": None if combiner.bias is None else [float(b) for b in combiner.bias]},
            "postprocess": [p.to_dict() for p in post], **info, "files": files,
        }
        if multi:
            manifest["tasks"] = list(tasks or [])
            manifest["task_post"] = (task_post or TaskPost()).to_dict()
        manifest["id"] = bundle_id(manifest)
        atomic_write_json(tmp / MANIFEST, manifest)
        if sign is not None:
            atomic_write_bytes(tmp / SIGNATURE, signing.signature_file((tmp / MANIFEST).read_bytes(), sign))
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "member"


def _now() -> str:
    import datetime as dt

    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


@dataclass
class Bundle:
    root: Path
    manifest: dict[str, Any]
    recipe: Recipe
    members: list[Member]
    combiner: Combiner
    post: list[PostProcessor]
    device: str = "cpu"
    signer: str | None = None  # the trusted key that signed it (``SHA256:...``), when one was required
    tasks: list[str] = field(default_factory=lambda: ["expr"])  # expr, va, au (:mod:`.tasks`)
    task_post: TaskPost = field(default_factory=TaskPost)
    _inferencers: dict[tuple, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def id(self) -> str:
        return str(self.manifest["id"])

    @property
    def classes(self) -> list[str]:
        return list(self.manifest["classes"])

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu", trusted_keys: Any = None) -> Bundle:
        """Read and verify a bundle (see the module doc); members predict on ``device``.
        ``trusted_keys``: a file of public keys, or :func:`.signing.load_trusted_keys`' list: the
        bundle must then be signed by one of them, its manifest unchanged since."""
        root = Path(path)
        mp = root / MANIFEST
        manifest, signer = read_manifest(root, trusted_keys)
        tasks = check_manifest(root, manifest)
        blobs = verified_files(root, manifest)
        recipe = Recipe.from_dict(json.loads(blobs["recipe.json"]), str(root / "recipe.json"))
        if tasks != ["expr"]:
            check_member_tasks(manifest["members"], tasks, str(mp))
        members = [load_member(blobs, e, recipe, device) for e in manifest["members"]]
        comb = manifest["combination"]
        bias = comb.get("class_bias")
        combiner = Combiner(comb["method"], np.asarray(comb["weights"], np.float64),
                            None if bias is None else np.asarray(bias, np.float64))
        post = [processor_from_dict(d, f"{mp}: postprocess") for d in manifest.get("postprocess") or []]
        task_post = TaskPost.from_dict(manifest.get("task_post"), f"{mp}: task_post")
        if tasks != ["expr"]:  # EXPR's calibration and chain act on the EXPR slice of each row
            post = [expr_sliced(p, tasks) for p in post]
            for m, own in zip(members, member_tasks_of(manifest, tasks), strict=True):
                m.calibration = expr_sliced(m.calibration, own)
        return cls(root, manifest, recipe, members, combiner, post, device, signer, list(tasks), task_post)

    def predict(self, video: str | Path, weights: Mapping[str, str] | None = None, detector: str | None = None,
                store: str | Path | None = None, faces: str | Path | None = None,
                detect_every: int | None = None) -> list[Any]:
        """Per-frame expressions of one ``video``: a :class:`~exprnet.deploy.infer.TrackPrediction`
        per person in it, as ``exprnet infer`` computes them (``weights``: model name -> file, as
        ``--weights``; the extractors load on the first call and stay loaded). The features go to
        ``store`` when given, else to a temporary store; ``faces``: a ``cropped_aligned`` folder to
        read the crops from instead of detecting them (as ``--faces``); ``detect_every``: as ``--detect-every``
        (default: the recipe's). A video that cannot be read, lacks a face
        or the audio the members need raises :class:`~exprnet.errors.VideoError`."""
        from .infer import Inferencer

        key = (tuple(sorted((weights or {}).items())), detector, faces, detect_every)
        if key not in self._inferencers:
            self._inferencers[key] = Inferencer(self, weights, self.device, detector, faces_dir=faces,
                                                detect_every=detect_every)
        inferencer = self._inferencers[key]
        with tempfile.TemporaryDirectory(prefix="exprnet-predict-") as tmp:
            res = inferencer.video(video, str(store or Path(tmp) / "features.zarr"))
        e = res.exception
        if isinstance(e, VideoError):
            raise e
        if e is not None:
            raise VideoError(getattr(e, "subject", str(video)), getattr(e, "reason", str(e)), getattr(e, "hint", None),
                             code=res.code or "processing_failed") from e
        return res.tracks

    def missing_allowed(self, modality: str) -> bool:
        """True when every member was trained with whole-feature dropout, so a clip without
        ``modality`` can be predicted from the others (its features as dropped in training)."""
        return all(m.lr.cfg.data.modality_dropout > 0 for m in self.members
                   if any(self.recipe.feature(f).modality == modality for f in m.features))

    def predict_store(self, store: str, tracks: list[str], reporter: Reporter | None = None,
                      absent: dict[str, set[str]] | None = None) -> dict[str, Decoded]:
        """Members, combination and post-processing on ``tracks`` of ``store``, per track.
        ``absent``: track -> features to feed as dropped (a modality the clip lacks)."""
        reporter = reporter or NullReporter()
        reader = FeatureStore(store, mode="r")
        banks: dict[tuple[str, ...], FeatureBank] = {}
        per_member = []
        for m in self.members:
            key = tuple(m.features)
            if key not in banks:
                banks[key] = load_bank(reader, m.features, tracks, None, "error")
            bank = banks[key]
            check_bank(m.lr, bank, store)
            if absent:
                bank = dropped(bank, m.lr.stats, absent)
            probs = m.predictor.probs(bank, reporter)
            cal = m.calibration
            per_member.append({bank.tracks[i]: p if cal is None else cal.apply(p).probs for i, p in probs.items()})
        combined = [self.combiner.combine(np.stack([pm[t] for pm in per_member]).astype(np.float64)) for t in tracks]
        decoded = run_chain(self.post, [Decoded(q, q.argmax(1)) for q in combined])
        return dict(zip(tracks, decoded, strict=True))

    def predict_outputs(self, store: str, tracks: list[str], reporter: Reporter | None = None,
                        absent: dict[str, set[str]] | None = None) -> dict[str, TrackOutputs]:
        """Every task's predictions per track (:mod:`.tasks`); EXPR-only: :meth:`predict_store`'s."""
        if self.tasks == ["expr"]:
            return {t: TrackOutputs(expr=d) for t, d in self.predict_store(store, tracks, reporter, absent).items()}
        return task_outputs(self, store, tracks, reporter, absent)
