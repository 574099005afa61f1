"""GANLoss, gradient penalty and pixel losses on cases small enough to compute by hand."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from translate.errors import ConfigError
from translate.losses import GANLoss, cycle_loss, gradient_penalty, identity_loss, l1_loss


def full(value: float, shape=(2, 1, 4, 4)) -> torch.Tensor:
    return torch.full(shape, value)


def test_vanilla_is_bce_with_logits():
    loss = GANLoss("vanilla")
    # sigmoid(0) = 0.5 -> -log(0.5) = log 2 for either target
    assert loss(full(0.0), True).item() == pytest.approx(math.log(2))
    assert loss(full(0.0), False).item() == pytest.approx(math.log(2))
    # logit 2: real -> log(1 + e^-2), fake -> log(1 + e^2)
    assert loss(full(2.0), True).item() == pytest.approx(math.log1p(math.exp(-2)), rel=1e-6)
    assert loss(full(2.0), False).item() == pytest.approx(math.log1p(math.exp(2)), rel=1e-6)


def test_lsgan_is_mse_to_labels_with_smoothing():
    loss = GANLoss("lsgan")
    assert loss(full(0.5), True).item() == pytest.approx(0.25)
    assert loss(full(0.5), False).item() == pytest.approx(0.25)
    assert loss(full(0.2), False).item() == pytest.approx(0.04)
    smooth = GANLoss("lsgan", real_label=0.9)
    assert smooth(full(0.5), True).item() == pytest.approx(0.16)


def test_hinge_discriminator_and_generator_terms():
    loss = GANLoss("hinge")
    assert loss(full(0.3), True).item() == pytest.approx(0.7)
    assert loss(full(0.3), False).item() == pytest.approx(1.3)
    assert loss(full(1.5), True).item() == pytest.approx(0.0)  # margin satisfied
    assert loss(full(-2.0), False).item() == pytest.approx(0.0)
    assert loss(torch.tensor([0.3, -0.5]), True, for_discriminator=False).item() == pytest.approx(0.1)


def test_wgangp_critic_is_a_signed_mean():
    loss = GANLoss("wgan-gp")  # alias accepted
    pred = torch.tensor([1.0, 2.0, 6.0])
    assert loss(pred, True).item() == pytest.approx(-3.0)
    assert loss(pred, False).item() == pytest.approx(3.0)
    assert loss(pred, True, for_discriminator=False).item() == pytest.approx(-3.0)


def test_multiscale_outputs_are_averaged():
    loss = GANLoss("lsgan")
    assert loss([full(0.5), full(0.0)], True).item() == pytest.approx((0.25 + 1.0) / 2)


def test_bad_options_raise_config_error():
    with pytest.raises(ConfigError, match="vanilla, lsgan, hinge, wgangp"):
        GANLoss("wasserstein")
    with pytest.raises(ConfigError, match="label smoothing"):
        GANLoss("hinge", real_label=0.9)
    with pytest.raises(ConfigError, match="target_is_real=True"):
        GANLoss("hinge")(full(0.0), False, for_discriminator=False)


class LinearCritic(nn.Module):
    """D(x) = <w, x> + b (optionally + <v, y>): its input gradient is w everywhere."""

    def __init__(self, n_in: int, n_cond: int = 0) -> None:
        super().__init__()
        self.fc = nn.Linear(n_in, 1)
        self.cond = nn.Linear(n_cond, 1, bias=False) if n_cond else None

    def forward(self, x, y=None):
        out = self.fc(x.flatten(1))
        if self.cond is not None:
            out = out + self.cond(y.flatten(1))
        return out


def test_gradient_penalty_of_a_linear_critic():
    d = LinearCritic(3 * 4 * 4)
    real, fake = torch.randn(5, 3, 4, 4), torch.randn(5, 3, 4, 4)
    w_norm = d.fc.weight.norm().item()
    gp = gradient_penalty(d, real, fake)
    assert gp.item() == pytest.approx(10.0 * (w_norm - 1.0) ** 2, rel=1e-5)
    # the penalty is differentiable w.r.t. D's weights (create_graph=True): d/dw = 20 (|w|-1) w/|w|
    gp.backward()
    expected = 20.0 * (w_norm - 1.0) * d.fc.weight / w_norm
    torch.testing.assert_close(d.fc.weight.grad, expected.detach(), rtol=1e-4, atol=1e-6)


def test_gradient_penalty_conditional_critic_and_lambda():
    d = LinearCritic(8, n_cond=3)
    with torch.no_grad():
        d.fc.weight.fill_(0.5)  # ||w|| = sqrt(8 * 0.25) = sqrt(2)
    real, fake, labels = torch.randn(4, 8), torch.randn(4, 8), torch.randn(4, 3)
    gp = gradient_penalty(d, real, fake, labels, lambda_gp=2.0)
    # the condition's weights do not enter: the gradient is taken w.r.t. x_hat only
    assert gp.item() == pytest.approx(2.0 * (math.sqrt(2) - 1.0) ** 2, rel=1e-5)
    with pytest.raises(ConfigError, match="differ in shape"):
        gradient_penalty(d, real, fake[:2], labels)


def test_pixel_losses():
    a = torch.zeros(1, 3, 2, 2)
    b = torch.full((1, 3, 2, 2), 0.5)
    b[0, 0, 0, 0] = 2.5  # one element off by 2.5 instead of 0.5
    expected = (11 * 0.5 + 2.5) / 12
    for fn in (l1_loss, cycle_loss, identity_loss):
        assert fn(b, a).item() == pytest.approx(expected)
        assert fn(a, a).item() == 0.0
    with pytest.raises(ConfigError, match="shapes differ"):
        cycle_loss(a, torch.zeros(1, 3, 4, 4))
