"""Degradations: MATLAB-compatible resizing and the ``rumpy degrade`` pipeline.

``pipeline.Pipeline`` applies operations (``scaling``, ``blur``, ``noise``, ``compress``;
names in ``catalog``) to HR images and records what was applied; ``folder`` runs it over a
folder of images for ``rumpy degrade``, with flags and config files merged in ``settings``.
"""
