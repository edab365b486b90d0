"""dfu-cv: the science, one package per stage, never importing Ray.

``config`` (one typed config), ``data`` (the Zivot reader and the image cache), ``demo`` (a
synthetic clinic with its Bayes oracle), ``cv`` (patient-grouped folds and sizing), ``models``,
``training`` (the staged protocol), ``evaluation`` (metrics, bootstrap, results, selection),
``report``, ``store`` (a run's files) and ``runs`` (the plan of a search and its in-process
executor); ``constants``, ``combos`` and ``keras_setup`` are shared by all of them.
"""
