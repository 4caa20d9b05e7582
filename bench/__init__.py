"""PicStream benchmarks: `python -m bench` prints every table (see README)."""
