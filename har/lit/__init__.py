"""LightningModules: training, evaluation and prediction steps around the networks of :mod:`har.models`, with
their losses and metrics. Independent of the data layer: the batch dict is the contract."""
