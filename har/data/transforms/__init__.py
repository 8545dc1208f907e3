"""Per-sample transforms: the top-down and clip crops, geometric augmentation, photometric ops (in the workers or
per batch on the device)."""
