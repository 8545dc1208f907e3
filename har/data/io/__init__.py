"""Reading pixels: image files (whole, reduced, or only a crop's region: :mod:`har.data.io.images`,
:mod:`har.data.io.jpeg_roi`) and video frames (:mod:`har.data.io.video`). Every dataset and ``predict.py`` read
through here."""
