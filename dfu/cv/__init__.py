"""Cross-validation: patient-grouped outer folds and inner splits (``folds``), batch sizing
(``sizing``), one fold's rows as arrays (``fold_data``) and what every unit of a fold shares
(``fold_plan``). No TensorFlow."""
