"""Where a run keeps its files: every file name (``layout``) and how records are written and
read (``records``: atomic JSON and Parquet writes, the trial format). Writers (``dfu.runs``)
and readers (``dfu.evaluation``, ``dfu.report``) share it, so they agree on one format."""
