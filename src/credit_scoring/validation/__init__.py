"""Credit-risk validation: the statistics a model-validation team reads (Gini, KS, PSI,
gains), the validation report and fairness tables of a trained model, scorecard points,
grades and reason codes, and the model card."""
