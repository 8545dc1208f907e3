"""har: multitask human pose estimation and action recognition (deephar, CVPR'18) on PyTorch Lightning."""

__version__ = "0.1.0"
