"""Fixtures shared by the data tests."""

from .data_helpers import meta_sets, test_models  # noqa: F401  (re-exported as fixtures)
