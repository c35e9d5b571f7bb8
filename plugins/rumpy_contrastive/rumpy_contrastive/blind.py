"""RCAN-SupMoCo (Aquilina et al., "The Best of Both Worlds: A Framework for Combining
Degradation Prediction with High Performance Super-Resolution Networks", Sensors 2023): QRCAN
whose meta-attention layers read a contrastive encoder's embedding of the LR image instead of
known degradation metadata, so it needs none at inference.

The ``contrastive_blind_sr`` task has two networks: ``model`` (the QRCAN,
``ContrastiveBlindQRCAN``) and ``encoder`` (a contrastive encoder, its weights usually from a
``contrastive`` experiment through ``init_from``, or the original key
``pre_trained_encoder_weights``). With ``encoder_freeze_mode = "all"`` (the original's
default) the encoder only embeds; with ``"none"`` the SR loss fine-tunes it too, through its
own optimizer and learning rate.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

import torch

import rumpycore
from rumpycore import ConfigError, ModelContext, option
from rumpycore.meta_attention import meta_layers
from rumpycore.tasks.base import StepOutput
from rumpy_rcan import QRCANParams
from rumpy_rcan.network import RCAN

from .encoder import EMBEDDING_SIZE

WHERE = "model.internal_params"


@dataclass(frozen=True)
class EncoderUse:
    """How the SR network uses its encoder."""

    frozen: bool
    embedding: Literal["pre-q", "q"]
    batchnorm_eval: bool


@dataclass
class BlindParams(QRCANParams):
    """``[model.internal_params]`` of ContrastiveBlindQRCAN: QRCAN's keys (where its meta-attention
    layers go; ``metadata`` is not read, the layers read the embedding) and the original's encoder
    keys."""

    embedding_type: Literal["pre-q", "q"] = option(
        "pre-q", help="what conditions the SR network: the encoder's embedding ('pre-q', the original's default) "
                      "or its contrastive projection ('q')")
    encoder_freeze_mode: Literal["all", "none"] = option(
        "all", help="'all': the encoder stays as loaded; 'none': the SR loss fine-tunes it too")
    encoder_train_eval: Literal["eval", "train"] = option(
        "eval", help="the encoder's BatchNorm while training: 'eval' (its stored statistics) or 'train' (batch "
                     "statistics)")
    encoder_type: Literal["default"] = option("default", help="the original's encoder choice; the encoder is the "
                                                              "[model.encoder] network")


def build_blind(params: BlindParams, ctx: rumpycore.ModelContext) -> RCAN:
    """QRCAN whose meta-attention layers take the 256-value embedding; ``encoder_use`` says how."""
    embedding = ModelContext(ctx.scale, {"embedding": EMBEDDING_SIZE})
    layers = meta_layers(replace(params, metadata=["embedding"]), embedding, units=params.n_resgroups,
                         channels=params.n_feats)
    if layers is None:
        raise ConfigError(f"{WHERE}.include_q_layer: RCAN-SupMoCo feeds the embedding to QRCAN through "
                          f"meta-attention, but these settings place no layer; select at least one block")
    model = RCAN(ctx.scale, params.n_resgroups, params.n_resblocks, params.n_feats, params.reduction,
                 params.res_scale, layers)
    model.encoder_use = EncoderUse(params.encoder_freeze_mode == "all", params.embedding_type,
                                   params.encoder_train_eval == "eval")
    return model


class ContrastiveBlindTask(rumpycore.SISRTask):
    """``model(lr, embedding)`` with ``embedding`` from ``encoder(lr)``; trained on the SR image."""

    def __init__(self, params: Any, ctx: rumpycore.TaskContext) -> None:
        super().__init__(params, ctx)
        self.uses_metadata = False
        self.encoder = ctx.networks["encoder"]
        self.use: EncoderUse = self.network.module.encoder_use
        if self.use.frozen:
            self.encoder.module.requires_grad_(False)
        if ctx.training and not self.use.frozen and getattr(self.network.step, "scaler", None) is not None:
            raise ConfigError(f"{WHERE}.encoder_freeze_mode: fine-tuning the encoder is not provided with fp16 "
                              f"precision; use bf16 or fp32, or keep the encoder frozen")

    def _embed(self, encoder: torch.nn.Module, lr: torch.Tensor) -> torch.Tensor:
        embedding, q = encoder(lr)
        return embedding if self.use.embedding == "pre-q" else q

    def _call(self, model: Any, batch: Mapping[str, Any]) -> torch.Tensor:
        lr = batch["lr"]
        if model is self.network.forward and not self.use.frozen:
            return model(lr, self._embed(self.encoder.forward, lr))
        with torch.no_grad():
            embedding = self._embed(self.encoder.module, lr)
        return model(lr, embedding)

    def train_step(self, batch: Mapping[str, Any]) -> StepOutput:
        if self.use.batchnorm_eval:
            self.encoder.module.eval()
        if self.use.frozen:
            return self.network.minimise(self._loss_of, batch)
        self.encoder.optimizer.zero_grad(set_to_none=True)
        terms, applied = self.network.minimise(self._loss_of, batch)
        if applied:
            # the SR loss's backward left the encoder's gradients in place; its own step applies them
            # through a loss whose gradient is exactly those gradients
            gradients = [(p, p.grad.detach().clone()) for p in self.encoder.module.parameters() if p.grad is not None]
            self.encoder.minimise(lambda _: {"loss": sum((p * g).sum() for p, g in gradients)}, batch)
        return terms, applied
