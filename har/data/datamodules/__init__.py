"""LightningDataModules: a format's reader + its dataset + the loaders, configured from ``conf/data/*.yaml``. The
base class (:mod:`har.data.datamodules.base`) owns the DataLoaders, which datasets each stage builds, and generating
synthetic data on first use."""
