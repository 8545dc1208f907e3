"""torch Datasets: an index of a format (:mod:`har.data.formats`) plus a transform (:mod:`har.data.transforms`)
→ samples (dicts of tensors, the contract with the LightningModules)."""
