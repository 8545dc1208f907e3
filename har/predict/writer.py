"""The prediction writer: Lightning's predict loop hands it every batch's predictions; at the end it writes the
machine-readable results and the overlays.

Pose (``predictions.json``): a list of COCO keypoint results, as ``evaluate.py`` writes them (``image_id``,
``category_id`` 1, ``keypoints`` x, y, visibility per joint in original pixels, ``score`` = mean visibility), plus
the box used (``bbox`` [x, y, w, h], ``box_score``, ``box_id``) and the frame (``file_name`` for images, ``frame``
for a video), in frame order.

Action (``windows.json``): ``{"classes", "head", "num_frames", "frame_step", "stride", "windows": [...]}``, one
record per sliding window: ``window``, ``start_frame``, ``end_frame`` (inclusive, 0-based), ``frames``, the top
``label`` and ``prob``, ``top_k`` (``[{"label", "prob"}]``, most probable first) and ``probs`` (every class, in
``classes`` order).
"""

from __future__ import annotations

import logging
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
from lightning.pytorch.callbacks import BasePredictionWriter

from har.layouts import JointLayout
from har.predict.inputs import FrameSource, UnreadableImage
from har.predict.overlays import draw_people, draw_text_panel, write_overlays
from har.utils.io import write_json_atomic

log = logging.getLogger(__name__)


class PredictionWriter(BasePredictionWriter):
    """Collects per-batch predictions; on predict end writes the JSON and (``overlays``) the overlays.

    Args:
        output_dir: the run folder.
        source: the input frames (re-read for the overlays).
        layout: joint layout (skeleton, colours).
        image_ids: COCO image id per frame (pose).
        classes: class names (action); None for a pose checkpoint.
        settings: recorded in ``windows.json`` (action): head, num_frames, frame_step, stride.
        top_k: labels drawn and listed per window (action).
        overlays: draw overlays.
        video_codec: the overlay video's codec (see :func:`~har.predict.overlays.open_video_writer`).
    """

    def __init__(self, output_dir: str | Path, source: FrameSource, layout: JointLayout, image_ids: list[int],
                 classes: list[str] | None = None, settings: dict | None = None, top_k: int = 3,
                 overlays: bool = True, video_codec: str = "auto") -> None:  # fmt: skip
        super().__init__(write_interval="batch")
        self.output_dir = Path(output_dir)
        self.source, self.layout, self.image_ids = source, layout, image_ids
        self.classes = None if classes is None else list(classes)
        self.settings = dict(settings or {})
        self.top_k = max(1, int(top_k))
        self.overlays = overlays
        self.video_codec = video_codec
        self.batches: list[dict] = []
        self.files: dict[str, Path | list[Path]] = {}
        self.skipped: dict[str, int] = {}  # what was left out (pose): unreadable images, boxes outside their image

    def write_on_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, prediction: dict,
                           batch_indices, batch, batch_idx: int, dataloader_idx: int = 0) -> None:  # fmt: skip
        self.batches.append({k: v.numpy() for k, v in prediction.items()})

    def _gathered(self) -> dict[str, np.ndarray]:
        if not self.batches:
            return {}
        return {k: np.concatenate([b[k] for b in self.batches]) for k in self.batches[0]}

    def on_predict_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.classes is None:
            self._write_pose(self._gathered())
        else:
            self._write_action(self._gathered())
        self.batches = []

    # -- pose ------------------------------------------------------------------------------------------------
    def pose_records(self, p: dict[str, np.ndarray]) -> list[dict]:
        """COCO results records (see the module docstring), in frame order."""
        if not p:
            return []
        records = []
        for i in np.argsort(p["frame"], kind="stable"):
            frame = self.source.frames[int(p["frame"][i])]
            kps = np.concatenate([p["xy"][i], p["vis"][i][:, None]], axis=1).astype(float).round(3)
            record = {"image_id": int(self.image_ids[frame.index]), "category_id": 1,
                      "keypoints": kps.reshape(-1).tolist(), "score": round(float(p["vis"][i].mean()), 5),
                      "bbox": [round(float(v), 3) for v in p["bbox"][i]],
                      "box_score": round(float(p["box_score"][i]), 5), "box_id": int(p["box_id"][i])}  # fmt: skip
            record.update({"frame": frame.index} if self.source.is_video else {"file_name": frame.name})
            records.append(record)
        return records

    def _reason(self, frame: int) -> str:
        try:
            self.source.read(frame)
        except UnreadableImage as err:
            return str(err)
        return "read on a second try"

    def _write_pose(self, p: dict[str, np.ndarray]) -> None:
        unreadable = {int(f) for f in p.get("unreadable", [])}
        if unreadable and len(unreadable) == len(self.source):
            first = min(unreadable)
            more = f" (and the {len(unreadable) - 1} other images)" if len(unreadable) > 1 else ""
            raise UnreadableImage(f"nothing to predict on: {self._reason(first)}{more}")
        self.files["predictions"] = write_json_atomic(self.output_dir / "predictions.json", self.pose_records(p))
        self._log_refused(p)
        if self.overlays:
            self._draw_pose(p, unreadable)  # adds the unreadable frames it meets (frames without boxes)
        if unreadable:
            names = [self._reason(f) for f in sorted(unreadable)[:5]]
            log.warning("skipped %d of %d images that cannot be read: %s%s", len(unreadable), len(self.source),
                        "; ".join(names), ", ..." if len(unreadable) > 5 else "")  # fmt: skip
        self.skipped["unreadable images"] = len(unreadable)

    def _log_refused(self, p: dict[str, np.ndarray]) -> None:
        """A warning for the boxes wholly outside their image (no prediction is made for them)."""
        frames = p.get("refused_frame", np.zeros(0))
        self.skipped["boxes outside their image"] = len(frames)
        if not len(frames):
            return
        rows = zip(frames[:5], p["refused_box_id"], p["refused_bbox"], p["refused_size"])
        lines = [f"{self.source.frames[int(f)].name} box_id {int(b)} {[round(float(v), 1) for v in xywh]} on a "
                 f"{int(size[0])}x{int(size[1])} image" for f, b, xywh, size in rows]  # fmt: skip
        log.warning("refused %d box%s wholly outside its image (nothing predicted there): %s%s", len(frames),
                    "" if len(frames) == 1 else "es", "; ".join(lines), ", ..." if len(frames) > 5 else "")  # fmt: skip

    def _draw_pose(self, p: dict[str, np.ndarray], unreadable: set[int]) -> None:
        people: dict[int, list[int]] = {}
        for i, f in enumerate(p.get("frame", [])):
            people.setdefault(int(f), []).append(i)

        def draw(frame: int, rgb: np.ndarray) -> np.ndarray:
            rows = people.get(frame, [])
            if not rows:
                return rgb
            return draw_people(rgb, self.layout, p["xy"][rows], p["vis"][rows], p["bbox"][rows])

        self.files["overlays"] = write_overlays(
            self.source, draw, self.output_dir / "overlays", unreadable, self.video_codec
        )

    # -- action ----------------------------------------------------------------------------------------------
    def window_records(self, p: dict[str, np.ndarray]) -> list[dict]:
        """One record per window (see the module docstring), in window order."""
        records = []
        for i in np.argsort(p.get("window", []), kind="stable"):
            probs, positions = p["probs"][i], p["positions"][i]
            order = np.argsort(-probs, kind="stable")[: self.top_k]
            records.append({
                "window": int(p["window"][i]), "start_frame": int(positions[0]), "end_frame": int(positions[-1]),
                "frames": positions.tolist(), "label": self.classes[order[0]], "prob": round(float(probs[order[0]]), 5),
                "top_k": [{"label": self.classes[c], "prob": round(float(probs[c]), 5)} for c in order],
                "probs": [round(float(v), 5) for v in probs],
            })  # fmt: skip
        return records

    def _write_action(self, p: dict[str, np.ndarray]) -> None:
        records = self.window_records(p)
        payload = {"input": str(self.source.path), "classes": self.classes, **self.settings, "windows": records}
        self.files["windows"] = write_json_atomic(self.output_dir / "windows.json", payload)
        if not self.overlays or not records:
            return
        # Each frame shows the window centred nearest to it, and the skeleton predicted on the nearest frame that
        # some window read (the latest window wins where windows overlap).
        order = np.argsort(p["window"], kind="stable")
        centres = np.array([np.mean(r["frames"]) for r in records])
        pose_at: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for i in order:
            for t, frame in enumerate(p["positions"][i]):
                pose_at[int(frame)] = (p["xy"][i, t], p["vis"][i, t])
        posed = np.array(sorted(pose_at))
        reach = max(1, int(self.settings.get("frame_step") or 1))

        def draw(frame: int, rgb: np.ndarray) -> np.ndarray:
            k = int(np.argmin(np.abs(centres - frame)))
            nearest = int(posed[np.argmin(np.abs(posed - frame))])
            if abs(nearest - frame) <= reach:
                xy, vis = pose_at[nearest]
                rgb = draw_people(rgb, self.layout, xy[None], vis[None])
            top = records[k]["top_k"]
            lines = [f"{top[0]['label']} {top[0]['prob']:.2f}"] + [f"  {e['label']} {e['prob']:.2f}" for e in top[1:]]
            lines.append(f"window {records[k]['start_frame']}-{records[k]['end_frame']}")
            return draw_text_panel(rgb, lines)

        self.files["overlays"] = write_overlays(
            self.source, draw, self.output_dir / "overlays", video_codec=self.video_codec
        )
