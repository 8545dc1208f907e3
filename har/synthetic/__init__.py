"""Synthetic datasets written in the real formats (generated on first use by the ``synthetic_*`` data configs): the
drawn person (:mod:`har.synthetic.person`), clutter (:mod:`har.synthetic.scene`), and one module per format."""
