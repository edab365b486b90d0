"""Running a search: the plan of units (``plan``), running one unit (``units``), the in-process
executor (``local``; ``cluster.search`` is the Ray one), opening, resuming and publishing a
run (``run``, ``resume``, ``publish``), its lock, pre-trained branches and the bundle."""
