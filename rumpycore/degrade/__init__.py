"""Degradations: MATLAB-compatible resizing and the ``rumpy degrade`` pipeline."""
