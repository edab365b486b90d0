"""dfu-cv: the science (data, folds, models, training, metrics, report). Never imports Ray."""
