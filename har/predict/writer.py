"""The prediction writer: Lightning's predict loop hands it every batch's predictions; at the end it writes the
machine-readable results and the overlays.

Pose (``predictions.json``): a list of COCO keypoint results, as ``evaluate.py`` writes them (``image_id``,
``category_id`` 1, ``keypoints`` x, y, visibility per joint in original pixels, ``score`` = mean visibility), plus
the box used (``bbox`` [x, y, w, h], ``box_score``, ``box_id``) and the frame (``file_name`` for images, ``frame``
for a video), in frame order. A 3D checkpoint (depth bins) adds per record (:class:`Depth`): ``depth_norm`` (J,)
the network's normalised depth z (0.5 = the root's depth, the span ``depth_range`` mm), ``depth_mm`` (J,) each
joint's depth relative to the root's, ``depth_range``·(z − 0.5) mm, and, when a root depth and a focal length are
given, ``joints_camera_mm`` (J × [X, Y, Z]) camera-frame millimetres (pinhole through the image centre, no lens
distortion). The depth scale is the training crops' (deephar's Human3.6M crop: about 2.25 m at the root's depth):
on a crop of another scale the millimetres scale with it.

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
from har.vis.pose3d import beside, draw_skeleton_3d

log = logging.getLogger(__name__)


class Depth:
    """How a 3D checkpoint's normalised depth is written (module docstring).

    Args:
        depth_range: mm spanned by the normalised depth (deephar: root ± 1000 mm).
        root_depth: the root's (pelvis') distance from the camera, mm; None: no camera coordinates.
        focal: the camera's focal length, pixels; None: no camera coordinates.
        plot: draw a 3D plot of each frame's highest-scoring person beside its overlay.
    """

    def __init__(self, depth_range: float = 2000.0, root_depth: float | None = None, focal: float | None = None,
                 plot: bool = True) -> None:  # fmt: skip
        if (root_depth is None) != (focal is None):
            raise ValueError("camera coordinates need both pose3d.root_depth (mm) and pose3d.focal (pixels)")
        self.depth_range, self.root_depth, self.focal, self.plot = float(depth_range), root_depth, focal, plot

    def fields(self, xy: np.ndarray, z: np.ndarray, image_size: tuple[int, int]) -> dict:
        """A record's 3D fields for joints ``xy`` (J, 2) original pixels and normalised depth ``z`` (J,) on an image
        of (W, H) ``image_size``."""
        rel = self.depth_range * (np.asarray(z, np.float64) - 0.5)
        out = {"depth_norm": [round(float(v), 5) for v in z], "depth_mm": [round(float(v), 1) for v in rel]}
        if self.root_depth is not None:
            depth = float(self.root_depth) + rel
            centre = (np.asarray(image_size, np.float64) - 1) / 2
            xyz = np.concatenate([(xy - centre) * depth[:, None] / float(self.focal), depth[:, None]], axis=1)
            out["joints_camera_mm"] = xyz.round(1).reshape(-1).tolist()
        return out


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
        depth: how a 3D checkpoint's depth is written (:class:`Depth`); None for a 2D one.
    """

    def __init__(self, output_dir: str | Path, source: FrameSource, layout: JointLayout, image_ids: list[int],
                 classes: list[str] | None = None, settings: dict | None = None, top_k: int = 3,
                 overlays: bool = True, video_codec: str = "auto", depth: Depth | None = None) -> None:  # fmt: skip
        super().__init__(write_interval="batch")
        self.depth = depth
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
            if self.depth is not None and "pose3d" in p:
                record.update(self.depth.fields(p["xy"][i], p["pose3d"][i, :, 2], self._size(frame.index)))
            records.append(record)
        return records

    def _size(self, frame: int) -> tuple[int, int]:
        """(W, H) of a frame (read once per frame: only for camera coordinates)."""
        if self.depth is None or self.depth.root_depth is None:
            return (0, 0)
        if not hasattr(self, "_sizes"):
            self._sizes: dict[int, tuple[int, int]] = {}
        if frame not in self._sizes:
            self._sizes[frame] = self.source.read(frame).shape[1::-1]
        return self._sizes[frame]

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

        plot3d = self.depth is not None and self.depth.plot and "pose3d" in p

        def draw(frame: int, rgb: np.ndarray) -> np.ndarray:
            rows = people.get(frame, [])
            out = draw_people(rgb, self.layout, p["xy"][rows], p["vis"][rows], p["bbox"][rows]) if rows else rgb
            if not plot3d:
                return out
            # the 3D plot of the frame's highest-scoring person (an empty one where there is none: videos keep one
            # frame size)
            best = max(rows, key=lambda r: p["box_score"][r]) if rows else None
            pose = p["pose3d"][best] if best is not None else np.full((self.layout.num_joints, 3), np.nan)
            note = f"box {int(p['box_id'][best])}" if best is not None else "no person"
            return beside(out, draw_skeleton_3d(pose, self.layout, title=f"3D, {note}", size_px=min(512, rgb.shape[0])))

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
