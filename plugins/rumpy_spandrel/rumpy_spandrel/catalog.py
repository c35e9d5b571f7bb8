"""Which of spandrel's architectures rumpy registers, under which names, with which published
configurations, and why the others are left out.

Everything here is data; :mod:`.signatures` holds the constructor parameters (generated from
spandrel's sources) and :mod:`.models` builds, sizes and recognises the networks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

SR_SCALES = (2, 3, 4)
RESTORATION = (1,)

NO_FP16 = {"fp16": "spandrel marks this architecture as not supporting half precision (fp16)"}
OMNISR_COMPILE = ("torch.compile's inductor (torch 2.14) fails on the symbolic shapes of its windows (cannot "
                  "determine the truth value of a size comparison), found by benchmarks/spandrel_speed_options.py "
                  "--compile")
HVICIDNET_COMPILE = ("torch.compile's inductor (torch 2.14) generates a backward kernel whose strides do not match its "
                     "inputs' (an AssertionError on the strides of the HVI colour transform's indexed assignment), "
                     "found by benchmarks/spandrel_speed_options.py --compile")
KBNET_BF16 = ("a matrix product in its forward mixes float32 and bfloat16 tensors under autocast (found by "
              "benchmarks/spandrel_speed_options.py)")


@dataclass(frozen=True)
class Preset:
    """A published configuration: the model's own keys, and the parameter count its paper reports."""

    params: Mapping[str, Any]
    paper_count: str = ""
    """As the paper prints it, at x4 for SR models (``"897K"``); empty when unknown."""


@dataclass(frozen=True)
class Entry:
    """One spandrel architecture registered as a rumpy model.

    ``model_class`` picks the constructor when spandrel's architecture has several
    (``PLKSR`` / ``RealPLKSR``); ``by_scale`` picks it by the run's scale (Real-CUGAN has one
    network per scale). ``defaults`` replace spandrel's constructor defaults where those are
    not the published configuration (or not super-resolution at all, as SwinIR's
    ``upsampler = ""``); ``fixed`` are constructor arguments rumpy keeps as given.
    """

    arch: str
    name: str
    summary: str
    paper: str
    scales: tuple[int, ...] = SR_SCALES
    model_class: str = ""
    by_scale: Mapping[int, str] = field(default_factory=dict)
    defaults: Mapping[str, Any] = field(default_factory=dict)
    fixed: Mapping[str, Any] = field(default_factory=dict)
    presets: Mapping[str, Preset] = field(default_factory=dict)
    paper_count: str = ""
    """The paper's parameter count of the default configuration (x4 for SR models)."""
    fallback: bool = False
    unsupported: Mapping[str, str] = field(default_factory=dict)

    @property
    def constructor(self) -> str:
        """The class the parameters are read from (x4's for a network per scale)."""
        return self.by_scale.get(4, "") or self.model_class


SWINIR_CLASSICAL = {"img_size": 48, "window_size": 8, "img_range": 1.0, "depths": [6] * 6, "embed_dim": 180,
                    "num_heads": [6] * 6, "mlp_ratio": 2.0, "upsampler": "pixelshuffle", "resi_connection": "1conv"}
SWINIR_LIGHT = {"img_size": 64, "window_size": 8, "img_range": 1.0, "depths": [6] * 4, "embed_dim": 60,
                "num_heads": [6] * 4, "mlp_ratio": 2.0, "upsampler": "pixelshuffledirect", "resi_connection": "1conv"}
HAT_COMMON = {"img_size": 64, "window_size": 16, "overlap_ratio": 0.5, "mlp_ratio": 2.0, "img_range": 1.0,
              "upsampler": "pixelshuffle", "resi_connection": "1conv", "conv_scale": 0.01}
HAT_S = {**HAT_COMMON, "embed_dim": 144, "depths": [6] * 6, "num_heads": [6] * 6, "compress_ratio": 24,
         "squeeze_factor": 24}
HAT = {**HAT_COMMON, "embed_dim": 180, "depths": [6] * 6, "num_heads": [6] * 6, "compress_ratio": 3,
       "squeeze_factor": 30}
HAT_L = {**HAT, "depths": [6] * 12, "num_heads": [6] * 12}
DAT = {"img_size": 64, "embed_dim": 180, "split_size": [8, 32], "depth": [6] * 6, "num_heads": [6] * 6,
       "expansion_factor": 4.0, "resi_connection": "1conv", "upsampler": "pixelshuffle"}
DAT_S = {**DAT, "split_size": [8, 16], "expansion_factor": 2.0}
DAT_LIGHT = {"img_size": 64, "embed_dim": 60, "split_size": [8, 32], "depth": [18], "num_heads": [6],
             "expansion_factor": 2.0, "resi_connection": "3conv", "upsampler": "pixelshuffledirect"}
ATD = {"img_size": 64, "embed_dim": 210, "depths": [6] * 6, "num_heads": [6] * 6, "window_size": 16,
       "category_size": 256, "num_tokens": 128, "reducted_dim": 20, "convffn_kernel_size": 5, "mlp_ratio": 2.0,
       "upsampler": "pixelshuffle"}
ATD_LIGHT = {"img_size": 64, "embed_dim": 48, "depths": [6] * 4, "num_heads": [4] * 4, "window_size": 16,
             "category_size": 128, "num_tokens": 64, "reducted_dim": 8, "convffn_kernel_size": 7, "mlp_ratio": 1.0,
             "upsampler": "pixelshuffledirect"}
OMNISR = {"num_feat": 64, "block_num": 1, "pe": True, "window_size": 8, "res_num": 5, "bias": True}

ENTRIES: tuple[Entry, ...] = (
    Entry("SwinIR", "SwinIR", "Swin Transformer image restoration, classical SR configuration by default",
          "Liang et al., SwinIR: Image Restoration Using Swin Transformer, ICCVW 2021",
          defaults=SWINIR_CLASSICAL, paper_count="11.8M", unsupported=NO_FP16,
          presets={"classical": Preset(SWINIR_CLASSICAL, "11.8M"), "lightweight": Preset(SWINIR_LIGHT, "897K")}),
    Entry("Swin2SR", "Swin2SR", "SwinV2 transformer for compressed-image SR",
          "Conde et al., Swin2SR: SwinV2 Transformer for Compressed Image Super-Resolution and Restoration, "
          "ECCVW 2022", defaults={"upsampler": "pixelshuffle", "window_size": 8, "img_size": 64},
          unsupported=NO_FP16),
    Entry("HAT", "HAT", "Hybrid attention transformer (HAT x4 by default)",
          "Chen et al., Activating More Pixels in Image Super-Resolution Transformer, CVPR 2023",
          defaults=HAT, paper_count="20.8M", unsupported=NO_FP16,
          presets={"HAT-S": Preset(HAT_S, "9.6M"), "HAT": Preset(HAT, "20.8M"), "HAT-L": Preset(HAT_L, "40.8M")}),
    Entry("DAT", "DAT", "Dual aggregation transformer (DAT x4 by default)",
          "Chen et al., Dual Aggregation Transformer for Image Super-Resolution, ICCV 2023",
          defaults=DAT, paper_count="14.8M", unsupported=NO_FP16,
          presets={"DAT": Preset(DAT, "14.8M"), "DAT-S": Preset(DAT_S, "11.2M"),
                   "DAT-light": Preset(DAT_LIGHT, "573K")}),
    Entry("ATD", "ATD", "Adaptive token dictionary transformer (ATD x4 by default)",
          "Zhang et al., Transcending the Limit of Local Window: Advanced Super-Resolution Transformer with "
          "Adaptive Token Dictionary, CVPR 2024", defaults=ATD, paper_count="20.3M", unsupported=NO_FP16,
          presets={"ATD": Preset(ATD, "20.3M"), "ATD-light": Preset(ATD_LIGHT, "769K")}),
    Entry("RGT", "RGT", "Recursive-generalization transformer",
          "Chen et al., Recursive Generalization Transformer for Image Super-Resolution, ICLR 2024",
          unsupported=NO_FP16),
    Entry("DRCT", "DRCT", "Dense-residual connected transformer",
          "Hsu et al., DRCT: Saving Image Super-Resolution away from Information Bottleneck, CVPRW 2024",
          defaults={"upsampler": "pixelshuffle"}, unsupported=NO_FP16),
    Entry("GRL", "GRL", "Global, regional and local attention transformer",
          "Li et al., Efficient and Explicit Modelling of Image Hierarchies for Image Restoration, CVPR 2023",
          defaults={"upsampler": "pixelshuffle", "window_size": 32, "stripe_size": [64, 64], "stripe_shift": True,
                    "anchor_window_down_factor": 4}, unsupported=NO_FP16),
    Entry("CRAFT", "CRAFT", "Cross-refinement adaptive feature modulation transformer (lightweight)",
          "Li et al., Feature Modulation Transformer: Cross-Refinement and Lightweight Image Super-Resolution, "
          "ICCV 2023", paper_count="753K"),
    Entry("OmniSR", "OmniSR", "Omni self-attention network (lightweight)",
          "Wang et al., Omni Aggregation Networks for Lightweight Image Super-Resolution, CVPR 2023",
          defaults=OMNISR, paper_count="792K", unsupported={"compile": OMNISR_COMPILE}),
    Entry("SPAN", "SPAN", "Swift parameter-free attention network (efficient SR)",
          "Wan et al., Swift Parameter-free Attention Network for Efficient Super-Resolution, CVPRW 2024",
          paper_count="426K", presets={"SPAN": Preset({"feature_channels": 48}, "426K")}),
    Entry("SAFMN", "SAFMN", "Spatially-adaptive feature modulation network (efficient SR)",
          "Sun et al., Spatially-Adaptive Feature Modulation for Efficient Image Super-Resolution, ICCV 2023",
          defaults={"dim": 36, "n_blocks": 8, "ffn_scale": 2.0}, paper_count="240K", unsupported=NO_FP16),
    Entry("DCTLSA", "DCTLSA", "Densely connected transformer with linear self-attention (lightweight)",
          "Zeng et al., Densely Connected Transformer with Linear Self-Attention for Lightweight Image "
          "Super-Resolution, IEEE TIM 2023", unsupported=NO_FP16),
    Entry("DITN", "DITN", "Deployment-friendly inception transformer network",
          "Liu et al., Unfolding Once is Enough: A Deployment-Friendly Transformer Unit for Super-Resolution, "
          "ACM MM 2023"),
    Entry("SeemoRe", "SeemoRe", "Mixture of experts mining details (efficient SR)",
          "Zamfir et al., See More Details: Efficient Image Super-Resolution by Experts Mining, ICML 2024",
          unsupported=NO_FP16),
    Entry("PLKSR", "PLKSR", "Partial large-kernel CNN (efficient SR)",
          "Lee et al., PLKSR: Partial Large Kernel CNNs for Efficient Super-Resolution, arXiv 2024",
          model_class="PLKSR"),
    Entry("PLKSR", "RealPLKSR", "PLKSR variant for real-world SR (community)",
          "community variant of PLKSR (neosr)", model_class="RealPLKSR"),
    Entry("Compact", "Compact", "Real-ESRGAN's compact VGG-style network (SRVGGNetCompact)",
          "Wang et al., Real-ESRGAN: Training Real-World Blind Super-Resolution with Pure Synthetic Data, ICCVW 2021",
          presets={"realesr-general-x4v3": Preset({"num_feat": 64, "num_conv": 32, "act_type": "prelu"})}),
    Entry("ESRGAN", "RRDBNet", "Residual-in-residual dense block network (ESRGAN's generator)",
          "Wang et al., ESRGAN: Enhanced Super-Resolution Generative Adversarial Networks, ECCVW 2018",
          scales=(2, 4, 8), paper_count="16.7M", fallback=True),
    Entry("SwiftSRGAN", "SwiftSRGAN", "Swift-SRGAN generator (depthwise separable convolutions)",
          "Krishnan and Jayaraman, Swift-SRGAN: Rethinking Super-Resolution for Efficient and Real-time Inference, "
          "2021", scales=(2, 4)),
    Entry("RealCUGAN", "RealCUGAN", "Real-CUGAN cascaded U-nets (one network per scale)",
          "Bilibili AI Lab, Real-CUGAN, 2022 (no paper)",
          by_scale={2: "UpCunet2x", 3: "UpCunet3x", 4: "UpCunet4x"}),
    Entry("MoSR", "MoSR", "MoSR (community architecture)", "community architecture (neosr), 2024",
          scales=(1, 2, 3, 4)),
    Entry("MoESR", "MoESR", "MoESR (community architecture)", "community architecture (neosr), 2024",
          scales=(1, 2, 3, 4)),
    Entry("FDAT", "FDAT", "Fast dual aggregation transformer (community architecture)",
          "community architecture (traiNNer-redux), 2025", scales=(1, 2, 3, 4)),
    Entry("RCAN", "RCAN", "Residual channel attention network (spandrel's, in the 0-255 range)",
          "Zhang et al., Image Super-Resolution Using Very Deep Residual Channel Attention Networks, ECCV 2018",
          scales=(2, 3, 4, 8), fallback=True, unsupported=NO_FP16),
    # Restoration at scale 1: RGB in, RGB out of the same size.
    Entry("SCUNet", "SCUNet", "Swin-Conv U-net (blind denoising)",
          "Zhang et al., Practical Blind Image Denoising via Swin-Conv-UNet and Data Synthesis, MIR 2023",
          scales=RESTORATION),
    Entry("NAFNet", "NAFNet", "Nonlinear activation free network (NAFNet-width32 by default)",
          "Chen et al., Simple Baselines for Image Restoration, ECCV 2022", scales=RESTORATION,
          defaults={"width": 32, "middle_blk_num": 12, "enc_blk_nums": [2, 2, 4, 8], "dec_blk_nums": [2, 2, 2, 2]},
          unsupported=NO_FP16),
    Entry("Uformer", "Uformer", "U-shaped transformer (restoration)",
          "Wang et al., Uformer: A General U-Shaped Transformer for Image Restoration, CVPR 2022",
          scales=RESTORATION, fixed={"dd_in": 3}, unsupported=NO_FP16),
    Entry("FFTformer", "FFTformer", "Frequency-domain transformer (deblurring)",
          "Kong et al., Efficient Frequency Domain-based Transformers for High-Quality Image Deblurring, CVPR 2023",
          scales=RESTORATION, unsupported={**NO_FP16, "channels_last": "its frequency-domain filters are 5-dimensional "
                                           "parameters, which have no channels_last layout"}),
    Entry("KBNet", "KBNet_l", "Kernel basis network, large (restoration)",
          "Zhang et al., KBNet: Kernel Basis Network for Image Restoration, arXiv 2023", scales=RESTORATION,
          model_class="KBNet_l", unsupported={**NO_FP16, "bf16": KBNET_BF16}),
    Entry("KBNet", "KBNet_s", "Kernel basis network, small (restoration)",
          "Zhang et al., KBNet: Kernel Basis Network for Image Restoration, arXiv 2023", scales=RESTORATION,
          model_class="KBNet_s", unsupported={**NO_FP16, "bf16": KBNET_BF16}),
    Entry("RetinexFormer", "RetinexFormer", "Retinex-based transformer (low-light enhancement)",
          "Cai et al., Retinexformer: One-stage Retinex-based Transformer for Low-light Image Enhancement, ICCV 2023",
          scales=RESTORATION, unsupported=NO_FP16),
    Entry("HVICIDNet", "HVICIDNet", "HVI colour-space network (low-light enhancement)",
          "Yan et al., HVI: A New Color Space for Low-light Image Enhancement, CVPR 2025", scales=RESTORATION,
          unsupported={**NO_FP16, "compile": HVICIDNET_COMPILE}),
    Entry("DnCNN", "DnCNN", "Denoising CNN (colour)", "Zhang et al., Beyond a Gaussian Denoiser: Residual Learning of "
          "Deep CNN for Image Denoising, IEEE TIP 2017", scales=RESTORATION, fixed={"mode": "DnCNN"},
          unsupported=NO_FP16),
)

LEFT_OUT: Mapping[str, str] = {
    "GFPGAN": "face restoration on aligned 512x512 faces; its forward returns a tuple",
    "RestoreFormer": "face restoration on aligned 512x512 faces",
    "LaMa": "inpainting: takes a mask besides the image",
    "AuraSR": "a GAN upsampler run on fixed 64x64 tiles by its own tiling code; needs the image sizes at construction",
    "MMRealSR": "its forward returns the image with degradation estimates (a tuple)",
    "FBCNN": "JPEG artefact removal whose forward returns the image with a quality estimate (a tuple)",
    "DRUNet": "its input carries a noise-level map as a fourth channel",
    "IPT": "a multi-task pre-trained transformer called with a task index and the 0-255 range",
    "MixDehazeNet": "dehazing whose outputs are mapped from [-1, 1] outside the network",
    "SAFMNBCIE": "a 1x compressed-image enhancer whose upscaling_factor does not set its output scale",
}
"""spandrel's image architectures that are not RGB-to-RGB restoration a plain call trains, with why."""

SCALE_KEYS = ("upscale", "up_scale", "upscale_factor", "upscaling_factor", "scale")
"""Constructor arguments that take the run's scale."""
CHANNEL_KEYS = ("num_in_ch", "in_chans", "in_nc", "inp_channels", "in_channels", "img_channel", "in_ch", "n_colors",
                "num_out_ch", "out_nc", "out_channels", "out_ch", "out_chans")
"""Constructor arguments that take the number of image channels (3: rumpy's models are RGB)."""
