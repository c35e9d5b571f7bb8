"""RRDBNet, the discriminators, the adversarial losses and unsharp masking, as modules."""

from __future__ import annotations

import pytest
import torch
from rumpy_esrgan.adversarial import (
    ADVERSARIAL_LOSSES,
    LSGAN,
    HingeGAN,
    RelativisticGAN,
    VanillaGAN,
)
from rumpy_esrgan.discriminators import UNetDiscriminator, VGGDiscriminator
from rumpy_esrgan.rrdbnet import RRDBNet
from rumpy_esrgan.sharpen import UnsharpMask

from rumpycore import ConfigError
from rumpycore.training.networks import count_parameters


def test_rrdbnet_x4_with_the_official_settings_has_the_released_parameter_count():
    assert count_parameters(RRDBNet(4)) == 16_697_987  # ESRGAN / Real-ESRGAN x4: 23 blocks, 64 features, growth 32


def test_rrdbnet_unshuffles_the_input_for_x2_and_x1_as_real_esrgan_does():
    x4, x2, x1 = RRDBNet(4), RRDBNet(2), RRDBNet(1)
    # only the first convolution differs: 3 x 4 and 3 x 16 input channels instead of 3
    assert x4.conv_first.in_channels == 3 and x2.conv_first.in_channels == 12 and x1.conv_first.in_channels == 48
    assert count_parameters(x2) - count_parameters(x4) == 64 * 9 * 9 and count_parameters(x1) - count_parameters(x4) == 64 * 45 * 9


@pytest.mark.parametrize("scale", [1, 2, 4])
def test_rrdbnet_output_size_for_every_scale(scale):
    model = RRDBNet(scale, features=8, blocks=1, growth=4)
    assert model(torch.rand(2, 3, 8, 12)).shape == (2, 3, 8 * scale, 12 * scale)


def test_rrdbnet_keys_follow_the_released_weights():
    keys = set(RRDBNet(4, blocks=2).state_dict())
    assert {"conv_first.weight", "body.0.rdb1.conv1.weight", "body.1.rdb3.conv5.bias", "conv_body.weight",
            "conv_up1.weight", "conv_up2.weight", "conv_hr.weight", "conv_last.weight"} <= keys


def test_the_vgg_discriminator_has_esrgans_layout_and_refuses_other_sizes_in_one_line():
    model = VGGDiscriminator(128)
    assert count_parameters(model) == 14_499_401  # BasicSR's VGGStyleDiscriminator for 128-pixel patches
    assert model(torch.rand(2, 3, 128, 128)).shape == (2, 1)
    assert VGGDiscriminator(64, features=8)(torch.rand(3, 3, 64, 64)).shape == (3, 1)
    with pytest.raises(ConfigError, match="128x128 HR patches, but training gives 96x96"):
        model(torch.rand(1, 3, 96, 96))


def test_the_unet_discriminator_gives_a_logit_per_pixel_with_spectral_norm():
    model = UNetDiscriminator()
    assert count_parameters(model) == 4_376_897  # Real-ESRGAN's UNetDiscriminatorSN
    assert model(torch.rand(2, 3, 40, 48)).shape == (2, 1, 40, 48)
    assert {"conv1.weight_orig", "conv1.weight_u", "conv8.weight_v", "conv9.weight"} <= set(model.state_dict())
    with pytest.raises(ConfigError, match="multiples of 8"):
        model(torch.rand(1, 3, 36, 40))


def attached(loss_class):
    loss = loss_class()
    loss.attach()
    return loss


@pytest.mark.parametrize("loss_class", ADVERSARIAL_LOSSES)
def test_each_adversarial_loss_rewards_the_discriminator_for_telling_real_from_fake(loss_class):
    loss = attached(loss_class)
    confident_real, confident_fake = torch.full((4, 1), 3.0), torch.full((4, 1), -3.0)
    right = sum(term.mean() for term in loss.discriminator(confident_real, confident_fake))
    wrong = sum(term.mean() for term in loss.discriminator(confident_fake, confident_real))
    assert right < wrong
    # the generator gains when its images are judged real
    assert loss(confident_real, confident_fake).mean() < loss(confident_fake, confident_real).mean()
    assert loss(torch.rand(4, 1, 8, 8), torch.rand(4, 1, 8, 8)).shape == (4,)


def test_the_adversarial_losses_follow_their_formulas():
    fake, real = torch.tensor([[0.5], [-1.0]]), torch.tensor([[2.0], [0.0]])
    softplus = torch.nn.functional.softplus  # -log(sigmoid(x)) = softplus(-x)
    assert torch.allclose(attached(VanillaGAN)(fake, real), softplus(-fake).flatten())
    assert torch.allclose(attached(LSGAN)(fake, real), (fake - 1).square().flatten())
    assert torch.allclose(attached(HingeGAN)(fake, real), -fake.flatten())
    relativistic = 0.5 * (softplus(real - fake.mean()) + softplus(-(fake - real.mean())))
    assert torch.allclose(attached(RelativisticGAN)(fake, real), relativistic.flatten())
    d_real, d_fake = attached(RelativisticGAN).discriminator(real, fake)
    assert torch.allclose(d_real, 0.5 * softplus(-(real - fake.mean())).flatten())
    assert torch.allclose(d_fake, 0.5 * softplus(fake - real.mean()).flatten())


def test_the_relativistic_generator_loss_leaves_the_real_logits_alone():
    fake, real = torch.zeros(2, 1, requires_grad=True), torch.ones(2, 1, requires_grad=True)
    attached(RelativisticGAN)(fake, real).sum().backward()
    assert real.grad is None and fake.grad.abs().sum() > 0


def test_an_adversarial_loss_outside_the_gan_task_is_one_line():
    with pytest.raises(ConfigError, match='losses.lsgan: an adversarial loss needs a discriminator; train with '
                                          r'\[model\] task = "gan"'):
        LSGAN()(torch.rand(2, 3, 4, 4), torch.rand(2, 3, 4, 4))


def test_unsharp_masking_sharpens_edges_and_leaves_flat_areas():
    usm = UnsharpMask()
    flat = torch.full((1, 3, 64, 64), 0.5)
    assert torch.equal(usm(flat), flat)
    edge = torch.zeros(1, 3, 64, 64)
    edge[..., 32:] = 0.8
    sharp = usm(edge)
    assert sharp.min() >= 0 and sharp.max() <= 1
    assert sharp[0, 0, 10, 34] > 0.8  # the bright side of the edge is brightened next to it
    assert torch.equal(sharp[0, 0, 10, 5], edge[0, 0, 10, 5])  # far from the edge nothing changes


def test_unsharp_masking_ignores_detail_below_the_threshold():
    image = torch.full((1, 3, 64, 64), 0.5)
    image[..., 32:] += 2 / 255  # a step of 2 levels: under the threshold of 10
    assert torch.equal(UnsharpMask()(image), image)
