"""rumpy plugin for degradation regressors; its models register once implemented."""
