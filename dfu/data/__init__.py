"""The data layer: the Zivot reader (``zivot``), crops (``images``), features, the Parquet
cache, the layout's names (``schema``) and what can go wrong (``errors``).

Kept import-free: worker processes import dfu.data.images and must start quickly.
"""
