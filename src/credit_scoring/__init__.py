"""credit-scoring: retrain and serve loan-default models on data in the Home Credit format."""

__version__ = "0.1.0"
