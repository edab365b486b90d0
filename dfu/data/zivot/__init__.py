"""The Zivot-layout reader: ``read_zivot`` (``reader``: the rules, paths) over the CSV table
(``table``), metadata (``metadata``) and box (``boxes``) readers, the image folders and maps
(``folders``), the usable boxes (``views``), the matching of image sets (``match``) and the
summary (``summary``)."""

from dfu.data.zivot.reader import DatasetPaths, ZivotData, dataset_paths, read_zivot
from dfu.data.zivot.summary import format_summary, missing_map_line

__all__ = [
    "DatasetPaths",
    "ZivotData",
    "dataset_paths",
    "format_summary",
    "missing_map_line",
    "read_zivot",
]
