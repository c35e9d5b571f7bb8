"""The ``contrastive`` task: a degradation encoder trained by momentum contrast on degraded LR
patches (MoCo, SupMoCo or WeakCon, chosen by the model; see :mod:`.contrast`).

Positives are crops of one degraded patch: the task cuts ``crop_count`` crops of
``crop_size`` pixels at random positions of each training patch (the set's ``crop``), so
they share the patch's degradation; the first is the query, the others its keys. The key
encoder (a momentum copy of the model), the queue of keys and its pointer and labels are
the task's state, stored in every checkpoint, so a resumed run continues bit for bit.

Evaluation embeds each eval image whole (what RCAN-SupMoCo feeds its SR network) and reports
``val-loss`` (the contrastive loss of crops of the eval images against the current queue,
the queue unchanged) and, with metadata, how well the embedding sorts degradations: for each
image, its nearest other eval image by the embedding's cosine similarity is found;
``val-nn-error`` is the mean absolute difference of their normalised metadata values and
``val-nn-accuracy`` the share of pairs of the same degradation class.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F

import rumpycore
from rumpycore import ConfigError
from rumpycore.tasks.base import EvalResult, StepOutput, batch_to_device

from .contrast import Contrast, KeyQueue, contrastive_loss, logits, momentum_update
from .encoder import EMBEDDING_SIZE
from .labels import degradation_classes


def random_crops(lr: torch.Tensor, count: int, size: int | None,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """``count`` crops of ``size`` pixels (default: half the shorter side) at random positions of
    each image (``N x 3 x H x W`` -> ``N x count x 3 x size x size``); positions are drawn on
    the CPU from ``generator`` (default: torch's global generator, which checkpoints store)."""
    height, width = lr.shape[-2:]
    side = min(size or max(min(height, width) // 2, 1), height, width)
    tops = torch.randint(0, height - side + 1, (lr.shape[0], count), generator=generator).tolist()
    lefts = torch.randint(0, width - side + 1, (lr.shape[0], count), generator=generator).tolist()
    return torch.stack([torch.stack([lr[i, :, t:t + side, l:l + side] for t, l in zip(tops[i], lefts[i])])
                        for i in range(lr.shape[0])])


class ContrastiveTask(rumpycore.Task):
    """One network, ``model``, an encoder ``model(lr) -> (embedding, q)`` whose ``contrast``
    attribute (:class:`~rumpy_contrastive.contrast.Contrast`) says how it is trained."""

    def __init__(self, params: Any, ctx: rumpycore.TaskContext) -> None:
        super().__init__(params, ctx)
        self.network = ctx.networks["model"]
        self.contrast: Contrast = self.network.module.contrast
        self.scaling = ctx.metadata
        if self.contrast.needs_values and self.scaling is None:
            raise ConfigError(f"model.internal_params.metadata: {self.contrast.method} tells degradations apart by "
                              f"their metadata; name the columns (metadata = [...], or data_type)")
        values = sum(self.scaling.dims.values()) if self.scaling is not None else 0
        self.key_encoder = copy.deepcopy(self.network.module).requires_grad_(False)
        self.queue = KeyQueue(EMBEDDING_SIZE, self.contrast.queue_size, values, ctx.device)
        self.keys: torch.Tensor | None = None

    def to_device(self, batch: Mapping[str, Any]) -> dict[str, Any]:
        return batch_to_device(batch, ("lr",), self.ctx.device, self.ctx.memory_format)

    def _describe(self, batch: Mapping[str, Any]) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Each image's degradation class and normalised values (None without metadata)."""
        values = batch.get("metadata")
        if values is None:
            return None, None
        return degradation_classes(values, self.contrast.bins), values

    def _keys(self, crops: torch.Tensor) -> torch.Tensor:
        n, p = crops.shape[:2]
        return F.normalize(self.key_encoder(crops.flatten(0, 1))[1].float(), dim=1).view(n, p, -1)

    def _loss_of(self, batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        crops = batch["crops"]
        q = F.normalize(self.network.forward(crops[:, 0].contiguous(memory_format=self.ctx.memory_format))[1].float(),
                        dim=1)
        with torch.no_grad():
            momentum_update(self.key_encoder, self.network.module, self.contrast.momentum)
            self.keys = self._keys(crops[:, 1:])
        classes, values = self._describe(batch)
        return {"loss": contrastive_loss(logits(self.contrast, q, self.keys, self.queue, classes, values)).mean()}

    def train_step(self, batch: Mapping[str, Any]) -> StepOutput:
        self.key_encoder.train()
        crops = random_crops(batch["lr"], self.contrast.crops, self.contrast.crop_size)
        terms, applied = self.network.minimise(self._loss_of, {**batch, "crops": crops})
        classes, values = self._describe(batch)
        gather = self.ctx.gather
        self.queue.push(gather(self.keys[:, 0]), gather(classes) if classes is not None else None,
                        gather(values) if values is not None else None)
        return terms, applied

    def predict(self, batch: Mapping[str, Any]) -> torch.Tensor:
        """Each image's embedding (``N x 256``)."""
        return self.network.module(batch["lr"])[0]

    def evaluate(self, loaders: Mapping[str, Any], metrics: Mapping[str, Any]) -> EvalResult:
        self.key_encoder.eval()
        positions = torch.Generator().manual_seed(0)  # the same crops at every evaluation
        losses, embeddings, classes, values = [], [], [], []
        for loader in loaders.values():
            for raw in loader:
                batch = self.to_device(raw)
                embeddings.append(self.predict(batch).float())
                crops = random_crops(batch["lr"], self.contrast.crops, self.contrast.crop_size, positions)
                q = F.normalize(self.network.module(crops[:, 0])[1].float(), dim=1)
                image_classes, image_values = self._describe(batch)
                losses.append(contrastive_loss(logits(self.contrast, q, self._keys(crops[:, 1:]), self.queue,
                                                      image_classes, image_values)))
                if image_values is not None:
                    classes.append(image_classes)
                    values.append(image_values)
        gather = self.ctx.gather
        stats = {"val-loss": float(gather(torch.cat(losses)).double().mean())}
        if values:
            stats.update(neighbour_agreement(gather(torch.cat(embeddings)), gather(torch.cat(classes)),
                                             gather(torch.cat(values))))
        return EvalResult(stats)

    def state_dict(self) -> dict[str, Any]:
        return {"key_encoder": self.key_encoder.state_dict(), "queue": self.queue.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if state:
            self.key_encoder.load_state_dict(state["key_encoder"])
            self.queue.load_state_dict(state["queue"])


def neighbour_agreement(embeddings: torch.Tensor, classes: torch.Tensor, values: torch.Tensor) -> dict[str, float]:
    """``val-nn-error`` and ``val-nn-accuracy`` (see the module) of images with these embeddings,
    degradation classes and normalised values; empty with fewer than two images."""
    if embeddings.shape[0] < 2:
        return {}
    unit = F.normalize(embeddings, dim=1)
    similarity = unit @ unit.t()
    similarity.fill_diagonal_(-float("inf"))
    nearest = similarity.argmax(dim=1)
    return {"val-nn-error": float((values - values[nearest]).abs().mean(dim=1).double().mean()),
            "val-nn-accuracy": float((classes == classes[nearest]).double().mean())}
