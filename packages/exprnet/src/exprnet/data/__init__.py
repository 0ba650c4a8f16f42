"""Data: annotation files, the Zarr store reader, the float16 feature bank, segments, batches, splits."""
