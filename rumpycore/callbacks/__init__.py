"""Callbacks (``register_callbacks``): weight averaging, early stopping, the best-epoch link,
the non-finite guard, and every logger."""

from .base import Callback, CallbackContext, CallbackGroup, RunInfo, StepInfo

__all__ = ["Callback", "CallbackContext", "CallbackGroup", "RunInfo", "StepInfo"]
