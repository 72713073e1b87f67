"""Document stores (Flowise's): knowledge kept outside canvases, loaded, split, embedded
and kept in sync with a record manager (``indexing.py``)."""
