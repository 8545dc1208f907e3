"""The data layer: formats (files → validated numpy indexes), io (pixels), sampling, transforms, datasets and
datamodules. Independent of :mod:`har.lit`: the batch dict is the contract (see docs/architecture.md)."""
