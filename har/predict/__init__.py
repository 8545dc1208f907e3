"""Inference on images, folders and videos (``predict.py``): inputs with person boxes, the Lightning prediction
writer (overlays + machine-readable results), sliding windows for action checkpoints."""
