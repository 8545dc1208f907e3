"""Lightning callbacks and plugins of har (checkpoint writing)."""

from har.callbacks.atomic_checkpoint_io import AtomicCheckpointIO

__all__ = ["AtomicCheckpointIO"]
