"""Training a combination's network: the staged protocol (``protocol``), its data source
(``source``), callbacks, loss, Keras metrics, fusion weights fitted on held-out rows
(``fusion_fit``) and the health verdicts of every stage (``health``)."""
