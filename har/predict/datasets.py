"""Network inputs for ``predict.py``: person crops per frame (pose), sliding windows of T frames (action).

Both reuse the evaluation transforms, so a prediction is made on exactly the crop ``evaluate.py`` makes from the
same image and box: :class:`~har.data.transforms.topdown.TopDownTransform` without augmentation (box → window
grown to the input's aspect ratio, padded by ``padding``; one warp) for pose,
:class:`~har.data.transforms.clip.ClipTransform` (one window
per window of frames from the union of their boxes, or one per frame) for action.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from har.data.io.images import DECODE_FLAGS, is_jpeg
from har.data.sampling import window_indices
from har.data.transforms.clip import ClipTransform
from har.data.transforms.topdown import TopDownTransform
from har.geometry.affine import decode_reduction, invert_affine
from har.geometry.boxes import fill_empty_boxes, whole_frame_box
from har.predict.boxes import FrameBoxes, whole_frame
from har.predict.inputs import FrameSource, UnreadableImage


def boxes_outside(xywh: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(N,) bool: which boxes (N, 4) [x, y, w, h] cover no pixel of a (W, H) image."""
    x, y, w, h = np.asarray(xywh, dtype=np.float64).reshape(-1, 4).T
    width, height = size
    return (x >= width) | (y >= height) | (x + w <= 0) | (y + h <= 0)


class PoseFrameDataset(Dataset):
    """One item per frame: the crops of all its person boxes.

    An item: ``image`` (N, 3, H, W) uint8 RGB, ``crop_to_image`` (N, 2, 3) float32, ``flipped`` (N,) bool (False),
    ``frame`` (N,) int64, ``bbox`` (N, 4) float64 [x, y, w, h], ``box_score`` (N,) float64, ``box_id`` (N,) int64;
    and what was left out: ``unreadable`` (0 or 1,) int64, the frame when its image cannot be read (an
    :class:`~har.predict.inputs.UnreadableImage`: the item then has no crops), and ``refused_frame`` (R,),
    ``refused_box_id`` (R,), ``refused_bbox`` (R, 4), ``refused_size`` (R, 2) (W, H) for boxes wholly outside the
    image (no crop is made of them). N = 0 for a frame without boxes (its image is not read). Batch items with
    :func:`collate_crops`.

    Args:
        source: the frames.
        boxes: per-frame boxes, or None for the whole frame.
        transform: an evaluation :class:`TopDownTransform` (``augment=None``).
        reduced_decode: decode a JPEG at 1/2, 1/4 or 1/8 where a box's window allows it, as ``evaluate.py`` does
            with ``data.reduced_decode=true`` (images only).
    """

    def __init__(self, source: FrameSource, boxes: list[FrameBoxes] | None, transform: TopDownTransform,
                 reduced_decode: bool = False) -> None:  # fmt: skip
        if transform.augment is not None:
            raise ValueError("prediction crops need an evaluation TopDownTransform (augment=None)")
        self.source, self.boxes, self.transform, self.reduced_decode = source, boxes, transform, reduced_decode

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, i: int) -> dict:
        try:
            return self._item(i)
        except UnreadableImage:
            return self._pack(i, [], [], FrameBoxes.empty(), unreadable=True)

    def _item(self, i: int) -> dict:
        t = self.transform
        data = self.source.encoded(i) if self.reduced_decode and self.boxes is not None else None
        reducible = data is not None and is_jpeg(data)
        decoded: dict[int, np.ndarray] = {}

        def image_at(reduction: int) -> np.ndarray:
            if reduction not in decoded:
                image = self.source.read(i) if reduction == 1 else cv2.imdecode(data, DECODE_FLAGS[reduction])
                if image is None:
                    raise UnreadableImage(f"image {self.source.frames[i].name} cannot be decoded")
                decoded[reduction] = image
            return decoded[reduction]

        boxes = self.boxes[i] if self.boxes is not None else None
        if boxes is None:
            h, w = image_at(1).shape[:2]
            boxes = whole_frame((w, h))
        affines = [t.affine(xywh)[0] for xywh in boxes.xywh]
        reductions = [decode_reduction(m) if reducible else 1 for m in affines]
        refused = np.zeros(len(boxes), bool)
        if len(boxes):
            # A 1/r decode is ceil(W / r) wide, so the image is at least (w_r - 1)·r + 1 wide: a box outside that
            # may be outside the image; the full-resolution size decides (and names it in the message).
            r = min(reductions)
            h_r, w_r = image_at(r).shape[:2]
            refused = boxes_outside(boxes.xywh, ((w_r - 1) * r + 1, (h_r - 1) * r + 1) if r > 1 else (w_r, h_r))
            if refused.any():
                h, w = image_at(1).shape[:2]
                refused = boxes_outside(boxes.xywh, (w, h))
        crops, inverses = [], []
        for m, reduction in zip(np.array(affines)[~refused], np.array(reductions)[~refused]):
            crop, m = t.warp(image_at(int(reduction)), m, int(reduction))
            crops.append(t.to_chw_rgb(crop, bgr=True))
            inverses.append(invert_affine(m).astype(np.float32))
        size = image_at(1).shape[1::-1] if refused.any() else (0, 0)
        return self._pack(i, crops, inverses, boxes, refused=refused, size=size)

    def _pack(self, i: int, crops: list, inverses: list, boxes: FrameBoxes, refused: np.ndarray | None = None,
              size: tuple[int, int] = (0, 0), unreadable: bool = False) -> dict:  # fmt: skip
        refused = np.zeros(len(boxes), bool) if refused is None else refused
        kept = ~refused
        n = len(crops)
        height, width = self.transform.input_size
        return {
            "image": torch.stack(crops) if n else torch.zeros((0, 3, height, width), dtype=torch.uint8),
            "crop_to_image": torch.from_numpy(np.stack(inverses) if n else np.zeros((0, 2, 3), np.float32)),
            "flipped": torch.zeros(n, dtype=torch.bool),
            "frame": torch.full((n,), i, dtype=torch.int64),
            "bbox": torch.from_numpy(boxes.xywh[kept].astype(np.float64)),
            "box_score": torch.from_numpy(boxes.score[kept].astype(np.float64)),
            "box_id": torch.from_numpy(boxes.box_id[kept].astype(np.int64)),
            "unreadable": torch.tensor([i] if unreadable else [], dtype=torch.int64),
            "refused_frame": torch.full((int(refused.sum()),), i, dtype=torch.int64),
            "refused_box_id": torch.from_numpy(boxes.box_id[refused].astype(np.int64)),
            "refused_bbox": torch.from_numpy(boxes.xywh[refused].astype(np.float64)),
            "refused_size": torch.tensor([size] * int(refused.sum()), dtype=torch.int64).reshape(-1, 2),
        }


def collate_crops(items: list[dict]) -> dict:
    """Concatenate the crops of several frames: every value (N_i, ...) → (ΣN_i, ...)."""
    return {key: torch.cat([item[key] for item in items]) for key in items[0]}


def sliding_windows(length: int, num_frames: int, frame_step: int = 1, stride: int | None = None) -> list[np.ndarray]:
    """Windows of ``num_frames`` frame numbers ``frame_step`` apart over ``length`` frames, starting every
    ``stride`` frames (default: half a window's span), the last one moved back to end on the last frame so that
    every frame is covered. A video shorter than one window gives one window by deephar's evaluation sampling
    (:func:`har.data.sampling.window_indices`: a lower step, then repeated frames). Each window (T,) int64."""
    if num_frames < 1 or frame_step < 1 or (stride is not None and stride < 1) or length < 1:
        raise ValueError(f"windows need num_frames, frame_step, stride and length >= 1, got {num_frames}, "
                         f"{frame_step}, {stride}, {length}")  # fmt: skip
    span = frame_step * (num_frames - 1) + 1
    if length < span:
        return [window_indices(length, num_frames, frame_step)]
    stride = stride or max(1, span // 2)
    starts = list(range(0, length - span + 1, stride))
    if starts[-1] != length - span:
        starts.append(length - span)
    return [s + frame_step * np.arange(num_frames, dtype=np.int64) for s in starts]


class ActionWindowDataset(Dataset):
    """One item per sliding window: the clip the action model reads.

    An item: ``frames`` (T, 3, H, W) uint8 RGB, ``crop_to_image`` (T, 2, 3) float32, ``window`` () int64,
    ``positions`` (T,) int64 frame numbers.

    Args:
        source: the frames (all of one size).
        boxes: (n, 4) [x1, y1, x2, y2] per frame, NaN rows where a frame has none (filled from the nearest frame
            with a box, else the whole frame, as the training data), or None for the whole frame.
        windows: frame numbers of each window (:func:`sliding_windows`).
        transform: an evaluation :class:`ClipTransform` (no augmentation).
        image_size: the frames' (W, H).
    """

    def __init__(self, source: FrameSource, boxes: np.ndarray | None, windows: list[np.ndarray],
                 transform: ClipTransform, image_size: tuple[int, int]) -> None:  # fmt: skip
        self.source, self.windows, self.transform = source, windows, transform
        if boxes is None:
            self.boxes = np.tile(whole_frame_box(image_size), (len(source), 1))
        else:
            self.boxes = fill_empty_boxes(boxes, image_size)

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, k: int) -> dict:
        positions = self.windows[k]
        frames = [cv2.cvtColor(self.source.read(int(p)), cv2.COLOR_BGR2RGB) for p in positions]
        sample = self.transform(frames, self.boxes[positions])
        return {"frames": sample["frames"], "crop_to_image": sample["crop_to_image"],
                "window": torch.tensor(k, dtype=torch.int64), "positions": torch.from_numpy(positions)}  # fmt: skip
