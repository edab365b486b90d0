"""Column names of the fold datasets, shared by the driver (``cluster.datasets``) and the Train
workers (``cluster.ray_source``) without either importing the other's dependencies."""

ID_COLUMNS = ("set_id", "assessment_id", "patient")
LABEL = "label"
# = dfu.models.METADATA_INPUT, not imported from there: dfu.models loads TensorFlow.
METADATA_INPUT = "metadata"
