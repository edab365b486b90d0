"""The data layer: the Zivot reader, crops, features, the Parquet cache, the demo.

Kept import-free: worker processes import dfu.data.images and must start quickly.
"""
