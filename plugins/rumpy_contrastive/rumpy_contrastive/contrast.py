"""The pieces of momentum contrast (He et al., "Momentum Contrast for Unsupervised Visual
Representation Learning", CVPR 2020) shared by the three methods: their settings, the queue of
past keys, the momentum update, and each method's logits.

Every image of a batch gives one query and ``crops - 1`` positive keys (other crops of the
same degraded image); the queue holds the keys of earlier batches, the negatives. The logits
are ``[positive, queue...]`` over the temperature, and the loss is the cross-entropy with the
positive at index 0, as in MoCo's code.

- ``moco``: the positive logit is the mean similarity to the image's own keys.
- ``supmoco`` (Majumder et al., "Revisiting Contrastive Learning for Few-Shot Classification",
  arXiv:2101.11058): queue keys of the same degradation class also count as positives; the
  positive logit is the mean over the image's keys and those queue keys.
- ``weakcon`` (Zhang et al., "Blind Image Super-Resolution via Contrastive Representation
  Learning", Knowledge-Based Systems 2022): each negative's similarity is weighted by the
  distance between the two images' degradation values, so that near-identical degradations
  repel less.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

Method = Literal["moco", "supmoco", "weakcon"]


@dataclass(frozen=True)
class Contrast:
    """How an encoder is trained: its method and the settings the original toolbox names."""

    method: Method
    crops: int
    crop_size: int | None
    temperature: float
    queue_size: int
    momentum: float
    bins: int

    @property
    def needs_values(self) -> bool:
        """Whether the method reads the images' degradation metadata."""
        return self.method != "moco"


class KeyQueue:
    """The last ``size`` keys (``dim x size``, unit length), with each key's degradation class
    and values; ``pointer`` is where the next keys go. Starts as random unit keys of no class."""

    def __init__(self, dim: int, size: int, values: int, device: torch.device) -> None:
        self.keys = F.normalize(torch.randn(dim, size), dim=0).to(device)
        self.classes = torch.full((size,), -1, dtype=torch.long, device=device)
        self.values = torch.zeros(values, size, device=device)
        self.pointer = 0

    def push(self, keys: torch.Tensor, classes: torch.Tensor | None, values: torch.Tensor | None) -> None:
        """Replace the oldest entries with ``keys`` (``N x dim``), wrapping around the end."""
        size = self.keys.shape[1]
        slots = (self.pointer + torch.arange(keys.shape[0], device=keys.device)) % size
        self.keys[:, slots] = keys.t().to(self.keys.dtype)
        if classes is not None:
            self.classes[slots] = classes
        if values is not None:
            self.values[:, slots] = values.t()
        self.pointer = int((self.pointer + keys.shape[0]) % size)

    def state_dict(self) -> dict[str, Any]:
        return {"keys": self.keys, "classes": self.classes, "values": self.values, "pointer": self.pointer}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        for name in ("keys", "classes", "values"):
            getattr(self, name).copy_(state[name])
        self.pointer = int(state["pointer"])


@torch.no_grad()
def momentum_update(key_encoder: nn.Module, query_encoder: nn.Module, momentum: float) -> None:
    """``key = momentum * key + (1 - momentum) * query`` for every parameter (buffers such as
    BatchNorm statistics follow the key encoder's own batches)."""
    keys = list(key_encoder.parameters())
    queries = [q.detach() for q in query_encoder.parameters()]
    torch._foreach_mul_(keys, momentum)
    torch._foreach_add_(keys, queries, alpha=1.0 - momentum)


def _positive_similarity(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Sum over each query's own keys (``N x P x C``) of their similarity to it."""
    return (q.unsqueeze(1) * k).sum(dim=(1, 2))


def logits(contrast: Contrast, q: torch.Tensor, k: torch.Tensor, queue: KeyQueue,
           classes: torch.Tensor | None, values: torch.Tensor | None) -> torch.Tensor:
    """``N x (1 + queue size)`` logits of queries ``q`` (``N x C``) with positive keys ``k``
    (``N x P x C``), all unit length; ``classes`` / ``values`` describe each query's degradation."""
    similarity = q @ queue.keys
    positives = _positive_similarity(q, k)
    count = torch.full_like(positives, k.shape[1])
    if contrast.method == "supmoco":
        same = (classes.unsqueeze(1) == queue.classes.unsqueeze(0)).to(similarity.dtype)
        positives = positives + (similarity * same).sum(dim=1)
        count = count + same.sum(dim=1)
    negatives = similarity
    if contrast.method == "weakcon":
        negatives = similarity * torch.cdist(values, queue.values.t())
    return torch.cat(((positives / count).unsqueeze(1), negatives), dim=1) / contrast.temperature


def contrastive_loss(logits: torch.Tensor) -> torch.Tensor:
    """Per query, the cross-entropy of the logits with the positive (index 0) as the target."""
    return F.cross_entropy(logits, torch.zeros(logits.shape[0], dtype=torch.long, device=logits.device),
                           reduction="none")
