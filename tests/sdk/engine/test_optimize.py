from __future__ import annotations

import pytest
import torch
from stylecloak.engine.optimize import pixels


@pytest.mark.parametrize(
    ("sign", "expected"),
    [
        # loss = Σ pixels(x): descent lowers x, so only values at or above 1 (and inside) may move.
        (1.0, [0.0, 1.0, 1.0, 1.0, 0.0]),
        # loss = −Σ pixels(x): descent raises x, so only values at or below 0 (and inside) may move.
        (-1.0, [-1.0, 0.0, -1.0, 0.0, -1.0]),
    ],
)
def test_pixels_pass_the_gradient_only_inward_at_the_bounds(sign: float, expected: list[float]) -> None:
    x = torch.tensor([0.0, 1.0, 0.5, 1.2, -0.1], requires_grad=True)
    out = pixels(x)
    assert torch.equal(out, torch.tensor([0.0, 1.0, 0.5, 1.0, 0.0]))
    (sign * out).sum().backward()  # type: ignore[no-untyped-call]
    assert x.grad is not None
    assert torch.equal(x.grad, torch.tensor(expected))


def test_torch_clamp_alone_would_stop_the_gradient_at_the_bounds() -> None:
    # Why pixels() exists: from δ = 0, a pure white or pure black pixel never moved.
    x = torch.tensor([0.0, 1.0], requires_grad=True)
    x.clamp(0, 1).sum().backward()  # type: ignore[no-untyped-call]
    assert x.grad is not None and torch.equal(x.grad, torch.zeros(2))
