"""COCO keypoint AP (OKS): COCOeval's statistics of COCO results records against a validated ground truth.

OKS = mean over labelled GT joints of exp(−d² / (2 · area · (2σ)²)); AP averages over OKS thresholds
0.50:0.05:0.95 with maxDets 20; crowd and ``num_keypoints == 0`` ground truths are ignore regions (COCOeval's rules).

The ground truth is a :class:`KeypointGroundTruth`, built once from validated arrays
(:class:`har.data.formats.coco.CocoGroundTruth`: malformed records removed and reported, annotation ids unique, the
person category supplied, crowd regions and records without labelled joints kept as ignore regions). On a clean file
the statistics are those of pycocotools on the raw file; on a file with bad records nothing crashes, and the records
the index removed are not counted as people to find either.

Backends (``backend=``): ``"faster"`` matches and accumulates with faster-coco-eval's C++ ``COCOeval_faster``, fed with
OKS computed here for every image at once in numpy, with the very floating-point operations of pycocotools'
``computeOks`` in its order (bit-identical; the tests compare). ``"pycocotools"`` is pycocotools' ``COCOeval``
unchanged, the reference. ``"auto"``: faster where faster-coco-eval is installed.
"""

from __future__ import annotations

import contextlib
import io
import logging
from pathlib import Path

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

try:
    import faster_coco_eval
    from faster_coco_eval.core.faster_eval_api import COCOeval_faster
except ImportError:  # pragma: no cover - faster-coco-eval is pinned in requirements.txt
    faster_coco_eval = None
    COCOeval_faster = object

log = logging.getLogger(__name__)

# COCOeval's stats, in its order.
STAT_NAMES = ("oks_ap", "oks_ap50", "oks_ap75", "oks_ap_m", "oks_ap_l", "oks_ar", "oks_ar50", "oks_ar75",
              "oks_ar_m", "oks_ar_l")  # fmt: skip
PERSON = {"id": 1, "name": "person", "supercategory": "person"}
MAX_DETS = 20  # COCOeval's keypoint maxDets
_PAIR_CHUNK = 1 << 16  # (detection, ground truth) pairs per OKS block: bounds the temporary arrays (~10 MB each)


def _quiet(*args, **kwargs) -> None:
    pass


class KeypointGroundTruth:
    """The ground truth of COCO keypoint AP, built once (per datamodule and split) from validated arrays.

    Args:
        gt: a :class:`har.data.formats.coco.CocoGroundTruth` (or anything with its arrays: ``image_ids`` (I,),
            ``image_sizes`` (I, 2), ``ann_ids`` (M,), ``ann_image`` (M,), ``keypoints`` (M, J, 3), ``bboxes`` (M, 4),
            ``areas`` (M,), ``iscrowd`` (M,)); image and annotation ids must be unique.
    """

    def __init__(self, gt) -> None:
        self.source = str(getattr(gt, "ann_file", "ground truth"))
        self.image_ids = np.asarray(gt.image_ids, np.int64)
        self.image_sizes = np.asarray(gt.image_sizes, np.int64).reshape(-1, 2)
        self.ann_ids = np.asarray(gt.ann_ids, np.int64)
        self.ann_image = np.asarray(gt.ann_image, np.int64)
        self.keypoints = np.asarray(gt.keypoints, np.float64)
        self.bboxes = np.asarray(gt.bboxes, np.float64).reshape(-1, 4)
        self.areas = np.asarray(gt.areas, np.float64)
        self.iscrowd = np.asarray(gt.iscrowd, bool)
        m, n_img = len(self.ann_ids), len(self.image_ids)
        if self.keypoints.ndim != 3 or self.keypoints.shape[0] != m or self.keypoints.shape[2] != 3:
            raise ValueError(f"{self.source}: keypoints of shape {self.keypoints.shape}, expected ({m}, J, 3)")
        for name in ("ann_image", "bboxes", "areas", "iscrowd"):
            if len(getattr(self, name)) != m:
                raise ValueError(f"{self.source}: {name} has {len(getattr(self, name))} rows for {m} annotations")
        for what, ids in (("image", self.image_ids), ("annotation", self.ann_ids)):
            values, counts = np.unique(ids, return_counts=True)
            if (counts > 1).any():
                raise ValueError(f"{self.source}: {what} ids are not unique (e.g. {values[counts > 1][:5].tolist()})")
        if m and (self.ann_image.min() < 0 or self.ann_image.max() >= n_img):
            raise ValueError(f"{self.source}: ann_image points outside the image table")
        visible = self.keypoints[..., 2] > 0
        self.num_keypoints = visible.sum(axis=1)
        # Per ground truth, its labelled joints first, in joint order (all joints for an ignore region): the joints
        # pycocotools' computeOks sums over, in its order.
        self._joint_order = np.argsort(~visible, axis=1, kind="stable")
        # The annotations of each image, in file order (the order COCOeval takes them in).
        self._by_image = np.argsort(self.ann_image, kind="stable")
        self._count = np.bincount(self.ann_image, minlength=n_img)
        self._start = np.cumsum(self._count) - self._count
        self._image_sort = np.argsort(self.image_ids)
        self.row_of = dict(zip(self.image_ids.tolist(), range(n_img)))  # image id -> row
        self._coco: dict[str, object] = {}

    @classmethod
    def from_file(cls, ann_file: str | Path, num_joints: int = 17, cache: bool = True) -> KeypointGroundTruth:
        """The validated ground truth of a COCO person-keypoints file
        (:func:`har.data.formats.coco.load_coco_ground_truth`)."""
        from har.data.formats.coco import load_coco_ground_truth

        return cls(load_coco_ground_truth(ann_file, num_joints, cache))

    def __len__(self) -> int:
        return len(self.ann_ids)

    @property
    def num_joints(self) -> int:
        return self.keypoints.shape[1]

    def coco(self, backend: str):
        """The ground truth as a COCO object of ``backend``'s library (``faster`` or ``pycocotools``), built once.

        Its annotation ids are 1..M (row + 1), not the file's: COCOeval records a match as the matched id and takes
        0 for "unmatched", so a person with id 0 could never be found (pycocotools and faster-coco-eval alike)."""
        if backend not in self._coco:
            m = len(self)
            images = [{"id": i, "width": w, "height": h}
                      for i, (w, h) in zip(self.image_ids.tolist(), self.image_sizes.tolist())]  # fmt: skip
            fields = zip(range(1, m + 1), self.image_ids[self.ann_image].tolist(),
                         self.keypoints.reshape(m, -1).tolist(), self.bboxes.tolist(), self.areas.tolist(),
                         self.iscrowd.astype(int).tolist(), self.num_keypoints.tolist())  # fmt: skip
            anns = [{"id": i, "image_id": img, "category_id": 1, "keypoints": k, "bbox": b, "area": a, "iscrowd": c,
                     "num_keypoints": n} for i, img, k, b, a, c, n in fields]  # fmt: skip
            coco = faster_coco_eval.COCO(print_function=_quiet) if backend == "faster" else COCO()
            coco.dataset = {"images": images, "annotations": anns, "categories": [dict(PERSON)]}
            with contextlib.redirect_stdout(io.StringIO()):
                coco.createIndex()
            self._coco[backend] = coco
        return self._coco[backend]

    def image_rows(self, image_ids: np.ndarray) -> np.ndarray:
        """Rows of ``image_ids`` in the image table; ValueError naming the ids that are not in it."""
        if not len(self.image_ids):
            pos = np.zeros(len(image_ids), np.int64)
            found = np.zeros(len(image_ids), bool)
        else:
            pos = np.searchsorted(self.image_ids, image_ids, sorter=self._image_sort).clip(max=len(self.image_ids) - 1)
            found = self.image_ids[self._image_sort[pos]] == image_ids
        if not found.all():
            missing = np.unique(image_ids[~found])
            raise ValueError(f"{(~found).sum()} results are on images that are not in the ground truth "
                             f"{self.source} (image ids {missing[:10].tolist()})")  # fmt: skip
        return self._image_sort[pos] if len(self.image_ids) else pos

    def evaluate(self, results: list[dict], sigmas, backend: str = "auto") -> dict[str, float]:
        """COCOeval's keypoint statistics of ``results`` ({name: value} for :data:`STAT_NAMES`); see
        :func:`coco_keypoint_ap`."""
        sigmas = np.asarray(sigmas, dtype=np.float64)
        if sigmas.shape != (self.num_joints,):
            raise ValueError(f"{len(sigmas)} OKS sigmas for {self.num_joints} joints")
        if not results:
            return dict.fromkeys(STAT_NAMES, 0.0)
        if backend == "auto":
            backend = "faster" if faster_coco_eval is not None else "pycocotools"
        image_ids, kps, scores = result_arrays(results, self.num_joints)
        rows = self.image_rows(image_ids)
        if backend == "pycocotools":
            gt = self.coco("pycocotools")
            with contextlib.redirect_stdout(io.StringIO()):
                # loadRes adds id, area and bbox to the records it is given: shallow copies (the lists are only read)
                evaluator = COCOeval(gt, gt.loadRes([dict(r) for r in results]), iouType="keypoints")
            evaluator.params.kpt_oks_sigmas = sigmas
        elif backend == "faster":
            if faster_coco_eval is None:
                raise ImportError("backend='faster' needs faster-coco-eval (pip install -r requirements.txt)")
            evaluator = _FasterEvaluator(self, results, image_ids, rows, kps, scores, sigmas)
        else:
            raise ValueError(f"unknown COCO AP backend {backend!r} (auto, faster, pycocotools)")
        with contextlib.redirect_stdout(io.StringIO()):
            evaluator.evaluate()
            evaluator.accumulate()
            evaluator.summarize()
        return {name: float(v) for name, v in zip(STAT_NAMES, evaluator.stats)}


def result_arrays(results: list[dict], num_joints: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """COCO results records → image ids (R,) int64, keypoints (R, 3J) float64, scores (R,) float64.

    A record that is not a person result with an integer ``image_id``, 3·J finite ``keypoints`` and a finite
    ``score`` raises ValueError naming it.
    """
    try:
        image_ids = np.array([r["image_id"] for r in results])
        kps = np.array([r["keypoints"] for r in results], dtype=np.float64)
        scores = np.array([r["score"] for r in results], dtype=np.float64)
        people = all(r.get("category_id", 1) == 1 for r in results)
    except (KeyError, TypeError, ValueError, AttributeError):
        people = False
    else:
        shaped = image_ids.dtype.kind in "iu" and image_ids.ndim == 1 and kps.shape == (len(results), 3 * num_joints)
        if people and shaped and np.isfinite(kps).all() and np.isfinite(scores).all():
            return image_ids.astype(np.int64), kps, scores
    for i, r in enumerate(results):
        if problem := _result_problem(r, num_joints):
            ref = f" (gt_id {r['gt_id']})" if isinstance(r, dict) and "gt_id" in r else ""
            raise ValueError(f"results[{i}]{ref}: {problem}")
    raise ValueError("malformed results")  # pragma: no cover - a record above explains it


def _result_problem(r, num_joints: int) -> str | None:
    if not isinstance(r, dict):
        return "not an object"
    missing = [k for k in ("image_id", "keypoints", "score") if k not in r]
    if missing:
        return f"no {', '.join(missing)}"
    if r.get("category_id", 1) != 1:
        return f"category_id {r['category_id']!r}, not the person category 1"
    if type(r["image_id"]) is not int and not isinstance(r["image_id"], np.integer):
        return f"image_id {r['image_id']!r} is not an integer"
    try:
        kps = np.asarray(r["keypoints"], dtype=np.float64)
        score = float(r["score"])
    except (TypeError, ValueError):
        return "non-numeric keypoints or score"
    if kps.shape != (3 * num_joints,):
        return f"keypoints not 3x{num_joints} numbers"
    if not (np.isfinite(kps).all() and np.isfinite(score)):
        return "NaN or infinite keypoints or score"
    return None


def oks_by_image(gt: KeypointGroundTruth, rows: np.ndarray, kps: np.ndarray, scores: np.ndarray, sigmas: np.ndarray,
                 max_dets: int = MAX_DETS) -> dict[int, tuple[np.ndarray, np.ndarray]]:  # fmt: skip
    """OKS of every detection with every ground truth of its image, all images at once.

    Args:
        rows: (R,) image row (in ``gt``'s image table) of each detection; kps: (R, 3J); scores: (R,).
    Returns:
        {image row: (detections, oks)}: the image's detections (indices into the results, in results order) and oks
        (D, G): rows its detections by descending score (ties in results order), the first ``max_dets`` of them,
        columns its ground truths in file order. Images without detections or ground truths are left out.
    The floating-point operations are pycocotools' ``computeOks``', in its order: every value is bit-identical.
    """
    num_joints = gt.num_joints
    variances = (sigmas * 2) ** 2
    # A stable sort by (image, -score): COCOeval sorts an image's detections with a stable (merge) sort on -score.
    order = np.lexsort((-scores, rows))
    sorted_rows = rows[order]
    rank = np.arange(len(order)) - np.searchsorted(sorted_rows, sorted_rows, side="left")
    dets = order[(rank < max_dets) & (gt._count[sorted_rows] > 0)]
    det_rows = rows[dets]
    n_gt = gt._count[det_rows]
    # Pairs, image by image, detection-major: each image's (D, G) matrix, row by row.
    pair_det = np.repeat(dets, n_gt)
    within = np.arange(n_gt.sum()) - np.repeat(np.cumsum(n_gt) - n_gt, n_gt)
    pair_gt = gt._by_image[np.repeat(gt._start[det_rows], n_gt) + within]
    oks = np.empty(len(pair_det))
    for lo in range(0, len(oks), _PAIR_CHUNK):
        d, g = pair_det[lo : lo + _PAIR_CHUNK], pair_gt[lo : lo + _PAIR_CHUNK]
        xd, yd = kps[d, 0::3], kps[d, 1::3]
        dx = xd - gt.keypoints[g, :, 0]
        dy = yd - gt.keypoints[g, :, 1]
        labelled = gt.num_keypoints[g]
        # A ground truth without labelled joints: the distance to its box enlarged to 3x (an ignore region).
        region = np.flatnonzero(labelled == 0)
        if len(region):
            xr, yr = xd[region], yd[region]
            x, y, w, h = (gt.bboxes[g[region], k][:, None] for k in range(4))
            dx[region] = np.maximum(0, (x - w) - xr) + np.maximum(0, xr - (x + w * 2))
            dy[region] = np.maximum(0, (y - h) - yr) + np.maximum(0, yr - (y + h * 2))
        e = (dx**2 + dy**2) / variances / (gt.areas[g] + np.spacing(1))[:, None] / 2
        # Mean of exp(-e) over the labelled joints (all joints for an ignore region), summed in joint order.
        count = np.where(labelled > 0, labelled, num_joints)
        out = np.empty(len(d))
        for n in np.unique(count).tolist():
            at = np.flatnonzero(count == n)
            e_n = np.take_along_axis(e[at], gt._joint_order[g[at], :n], axis=1)
            out[at] = np.exp(-e_n).sum(axis=1) / n
        oks[lo : lo + len(d)] = out
    blocks = {}
    image_rows, n_det = np.unique(det_rows, return_counts=True)
    group = np.searchsorted(sorted_rows, image_rows)  # where each image's detections start in `order`
    group_end = np.searchsorted(sorted_rows, image_rows, side="right")
    offset = 0
    for row, nd, lo, hi in zip(image_rows.tolist(), n_det.tolist(), group.tolist(), group_end.tolist()):
        ng = int(gt._count[row])
        blocks[row] = (np.sort(order[lo:hi]), oks[offset : offset + nd * ng].reshape(nd, ng))
        offset += nd * ng
    return blocks


class _FasterEvaluator(COCOeval_faster):
    """faster-coco-eval's ``COCOeval_faster`` on har's arrays: the detections' COCO object built directly (no loadRes,
    no copy of the records), and ``computeOks`` answered from :func:`oks_by_image`."""

    def __init__(self, gt: KeypointGroundTruth, results, image_ids, rows, kps, scores, sigmas) -> None:
        x, y = kps[:, 0::3], kps[:, 1::3]
        x0, x1, y0, y1 = x.min(axis=1), x.max(axis=1), y.min(axis=1), y.max(axis=1)
        # As pycocotools' loadRes: ids 1..R in results order, area and box of the keypoints' extent.
        fields = zip(image_ids.tolist(), scores.tolist(), ((x1 - x0) * (y1 - y0)).tolist(),
                     np.stack([x0, y0, x1 - x0, y1 - y0], axis=1).tolist(), results)  # fmt: skip
        dts = [{"id": i, "image_id": img, "category_id": 1, "score": s, "area": a, "bbox": b,
                "keypoints": r["keypoints"]} for i, (img, s, a, b, r) in enumerate(fields, 1)]  # fmt: skip
        gt_coco = gt.coco("faster")
        dt_coco = faster_coco_eval.COCO(print_function=_quiet)
        dt_coco.dataset = {"images": gt_coco.dataset["images"], "annotations": dts, "categories": [dict(PERSON)]}
        dt_coco.createIndex()
        super().__init__(gt_coco, dt_coco, iouType="keypoints", kpt_oks_sigmas=sigmas, print_function=_quiet)
        self.params.kpt_oks_sigmas = sigmas
        self._gt = gt
        self._oks = oks_by_image(gt, rows, kps, scores, sigmas, self.params.maxDets[-1])
        self.fallbacks = 0  # images whose OKS the library computed itself (none, unless its inputs differ from ours)

    def computeOks(self, imgId, catId):  # noqa: N802 - the library's name
        row = self._gt.row_of.get(int(imgId))
        block = self._oks.get(row)
        if block is not None:
            dets, oks = block
            gt, start = self._gt, self._gt._start[row]
            gt_ids = (gt._by_image[start : start + gt._count[row]] + 1).tolist()
            dt_ids = (dets + 1).tolist()
            # Answer only for exactly the records the library holds for this image, in its order.
            if ([g["id"] for g in self.gt_dataset.get(imgId, catId)] == gt_ids
                    and [d["id"] for d in self.dt_dataset.get(imgId, catId)] == dt_ids):  # fmt: skip
                return oks
        self.fallbacks += 1
        return super().computeOks(imgId, catId)


def coco_keypoint_ap(gt, results: list[dict], sigmas, backend: str = "auto") -> dict[str, float]:
    """COCOeval keypoint statistics of ``results`` (COCO results: image_id, category_id 1, keypoints, score).

    ``gt``: a :class:`KeypointGroundTruth` (build it once and reuse it), a
    :class:`har.data.formats.coco.CocoGroundTruth`, or an annotation file (validated, see
    :func:`har.data.formats.coco.load_coco_ground_truth`). ``sigmas`` are the layout's per-joint OKS sigmas. Returns
    ``{name: value}`` for :data:`STAT_NAMES`; all zero when there is no result. The records are not modified; extra
    keys (such as ``gt_id``) are ignored. A record on an image the ground truth does not have, or a malformed one,
    raises ValueError.
    """
    if isinstance(gt, (str, Path)):
        gt = KeypointGroundTruth.from_file(gt, num_joints=len(sigmas))
    elif not isinstance(gt, KeypointGroundTruth):
        gt = KeypointGroundTruth(gt)
    return gt.evaluate(results, sigmas, backend)


def load_coco_gt(ann_file: str | Path) -> COCO:
    """pycocotools' COCO object of an annotation file as it is (not validated), without its console chatter."""
    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(str(ann_file))


def pycocotools_keypoint_ap(gt: COCO | str | Path, results: list[dict], sigmas) -> dict[str, float]:
    """pycocotools' COCOeval on the raw annotation file (not validated): the reference the tests compare with."""
    if not isinstance(gt, COCO):
        gt = load_coco_gt(gt)
    with contextlib.redirect_stdout(io.StringIO()):
        evaluator = COCOeval(gt, gt.loadRes([dict(r) for r in results]), iouType="keypoints")
        evaluator.params.kpt_oks_sigmas = np.asarray(sigmas, dtype=np.float64)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return {name: float(v) for name, v in zip(STAT_NAMES, evaluator.stats)}
