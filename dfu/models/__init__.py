"""The models: image branches (``branches``), their fusion (``fusion``), the metadata random
forest (``metadata``), the linear pixel baseline (``baseline``) and the class weights they
share (``class_balance``).

Import the modules themselves: this package imports nothing, so the random forest never loads
TensorFlow.
"""
