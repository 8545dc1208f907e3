"""COCO keypoint AP (OKS), computed by pycocotools' COCOeval on COCO results records.

OKS = mean over labelled GT joints of exp(−d² / (2 · area · (2σ)²)); AP averages over OKS thresholds
0.50:0.05:0.95 with maxDets 20; crowd and ``num_keypoints == 0`` ground truths are ignored (COCOeval's rules).
"""

from __future__ import annotations

import contextlib
import copy
import io
from pathlib import Path

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

# COCOeval's stats, in its order.
STAT_NAMES = ("oks_ap", "oks_ap50", "oks_ap75", "oks_ap_m", "oks_ap_l", "oks_ar", "oks_ar50", "oks_ar75",
              "oks_ar_m", "oks_ar_l")  # fmt: skip


def load_coco_gt(ann_file: str | Path) -> COCO:
    """pycocotools COCO object for a ground-truth file, without its console chatter."""
    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(str(ann_file))


def coco_keypoint_ap(gt: COCO | str | Path, results: list[dict], sigmas: tuple[float, ...]) -> dict[str, float]:
    """COCOeval keypoint statistics for ``results`` (COCO results: image_id, category_id, keypoints, score).

    ``sigmas`` are the layout's per-joint OKS sigmas. Returns ``{name: value}`` for :data:`STAT_NAMES`; all zero
    when there is no result. Extra keys in the records (such as ``gt_id``) are ignored.
    """
    if not isinstance(gt, COCO):
        gt = load_coco_gt(gt)
    if not results:
        return dict.fromkeys(STAT_NAMES, 0.0)
    with contextlib.redirect_stdout(io.StringIO()):
        # loadRes modifies the records it is given (adds ids, areas, boxes): give it copies.
        dt = gt.loadRes(copy.deepcopy(results))
        evaluator = COCOeval(gt, dt, iouType="keypoints")
        evaluator.params.kpt_oks_sigmas = np.asarray(sigmas, dtype=np.float64)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return {name: float(v) for name, v in zip(STAT_NAMES, evaluator.stats)}
