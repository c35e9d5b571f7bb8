"""The config side of meta-attention, shared by every model plugin that offers it (QEDSR, QRCAN,
QHAN, QSAN): the ``[model.internal_params]`` keys, the metadata the model consumes, and where
its :class:`~rumpycore.layers.MetaAttention` layers go.

A plugin adds meta-attention to a network by deriving its params from
:class:`MetaAttentionParams` (or :class:`GroupedMetaAttentionParams` for a network of residual
groups), registering ``metadata=consumed_metadata`` and passing :func:`meta_layers` to the
network, which calls it for each block while it is built::

    @dataclass
    class QRCANParams(GroupedMetaAttentionParams, RCANParams):
        pass

    def build(params, ctx):
        return RCAN(ctx.scale, ..., meta=meta_layers(params, ctx, units=params.n_resgroups,
                                                     channels=params.n_feats))

The keys keep the original toolbox's names, so its configs run unchanged. A model whose
params ask for no layers (no metadata, ``include_q_layer = false``, no selected block) is its
base network: it consumes no metadata and is called as ``model(lr)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .errors import ConfigError
from .layers import MetaAttention, MetaLayers
from .params import option
from .specs import ModelContext

WHERE = "model.internal_params"
FRONT_ONLY = "front_only"


@dataclass
class MetaAttentionParams:
    """Meta-attention keys of ``[model.internal_params]``: which metadata, the layers' shape, and
    which residual units get one (``selective_meta_blocks``: one true/false per unit, or
    ``"front_only"`` for the first)."""

    metadata: list[str] = option(["blur_kernel"], help="metadata columns the meta-attention layers read, in order "
                                                       "(empty: no meta-attention, the base network)")
    include_q_layer: bool = option(True, help="insert meta-attention layers (false: the base network, fed no metadata)")
    num_layers_in_q_layer: int = option(2, min=1, max=16, aliases=("num_layers",),
                                        help="fully connected layers in each meta-attention layer")
    q_layer_nonlinearity: bool = option(True, help="ReLU between the fully connected layers")
    q_layer_widths: list[int] = option([], min=1, max=65536,
                                       help="widths of the hidden fully connected layers (default: growing in equal "
                                            "steps up to the channels, as in the original)")
    selective_meta_blocks: list[bool] | Literal["front_only"] | None = option(
        None, help="which residual units get meta-attention: one true/false per unit, or 'front_only' (default: all)")

    def __post_init__(self) -> None:
        parent = getattr(super(), "__post_init__", None)
        if parent is not None:
            parent()
        duplicates = sorted({name for name in self.metadata if self.metadata.count(name) > 1})
        if duplicates:
            raise ConfigError(f"{WHERE}.metadata: {', '.join(duplicates)} listed twice; name each column once")
        if self.q_layer_widths and len(self.q_layer_widths) != self.num_layers_in_q_layer - 1:
            raise ConfigError(f"{WHERE}.q_layer_widths: {len(self.q_layer_widths)} widths for "
                              f"{self.num_layers_in_q_layer} layers; give {self.num_layers_in_q_layer - 1} "
                              f"(one per hidden layer) or none")

    def inner_blocks(self) -> int | None:
        """How many blocks of a selected unit get a layer (None: all)."""
        return None


@dataclass
class GroupedMetaAttentionParams(MetaAttentionParams):
    """:class:`MetaAttentionParams` of a network made of residual groups: the units of
    ``selective_meta_blocks`` are the groups, and ``num_q_layers_inner_residual`` limits the
    layers to the first blocks of each selected group."""

    num_q_layers_inner_residual: int | None = option(
        None, min=0, max=1024, help="meta-attention in only the first this many blocks of each selected group "
                                    "(default: every block)")

    def inner_blocks(self) -> int | None:
        return self.num_q_layers_inner_residual


def _selected_units(params: MetaAttentionParams, units: int) -> list[bool]:
    chosen = params.selective_meta_blocks
    if chosen is None:
        return [True] * units
    if chosen == FRONT_ONLY:
        return [True] + [False] * (units - 1)
    if len(chosen) != units:
        raise ConfigError(f"{WHERE}.selective_meta_blocks: {len(chosen)} entries for a network of {units} residual "
                          f"units; give one true/false per unit")
    return list(chosen)


def uses_meta_attention(params: MetaAttentionParams) -> bool:
    """Whether the params ask for at least one meta-attention layer."""
    chosen = params.selective_meta_blocks
    return (params.include_q_layer and bool(params.metadata) and params.inner_blocks() != 0
            and (chosen is None or chosen == FRONT_ONLY or any(chosen)))


def consumed_metadata(params: MetaAttentionParams) -> list[str]:
    """The metadata names a model with these params is fed (``ModelSpec.metadata``): none when it
    has no meta-attention layer."""
    return list(params.metadata) if uses_meta_attention(params) else []


def meta_layers(params: MetaAttentionParams, ctx: ModelContext, units: int, channels: int) -> MetaLayers | None:
    """The layer factory a network calls as ``layers(unit, block)`` for each of its ``units``
    residual units (groups, or blocks of an ungrouped network), or None without meta-attention.

    Raises a ConfigError naming the key when ``selective_meta_blocks`` does not give one entry per
    unit or when the data provides no values for the metadata.
    """
    if not uses_meta_attention(params):
        return None
    selected = _selected_units(params, units)
    if ctx.metadata_size == 0:
        raise ConfigError(f"{WHERE}.metadata: the data provides no values for {', '.join(params.metadata)}")
    inner = params.inner_blocks()

    def layer(unit: int, block: int) -> MetaAttention | None:
        if not selected[unit] or (inner is not None and block >= inner):
            return None
        return MetaAttention(channels, ctx.metadata_size, params.num_layers_in_q_layer,
                             params.q_layer_nonlinearity, params.q_layer_widths)

    return layer
