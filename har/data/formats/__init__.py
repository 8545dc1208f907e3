"""On-disk formats, one module per format: files → validated numpy indexes with counted skips, and (where the
synthetic data need them) writers. No torch here."""
