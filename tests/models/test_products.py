"""The one-row product of a compiled CPU frame: same values as F.linear, and inductor really
generates it as a fused loop (no library mm call) where, and only where, it should."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch._inductor.utils import run_and_get_code

from s2tts.models.layout import column_major
from s2tts.models.products import linear, row_product


def _layer(out: int, inp: int, bias: bool, dtype: torch.dtype) -> nn.Linear:
    layer = nn.Linear(inp, out, bias=bias)
    with torch.no_grad():
        layer.weight.copy_(torch.randn(out, inp, generator=torch.Generator().manual_seed(0)))
        if bias:
            layer.bias.copy_(torch.randn(out, generator=torch.Generator().manual_seed(1)))
    return layer.to(dtype)


@pytest.mark.parametrize("bias", [False, True])
def test_row_product_equals_linear(bias: bool) -> None:
    layer = _layer(96, 80, bias, torch.float32)
    x = torch.randn(1, 1, 80, generator=torch.Generator().manual_seed(2))
    out = row_product(x, layer.weight, layer.bias)
    assert out.shape == (1, 1, 96) and out.dtype == torch.float32
    torch.testing.assert_close(out, F.linear(x, layer.weight, layer.bias), rtol=1e-5, atol=1e-5)
    # bf16 in, bf16 out, accumulated in fp32: within bf16 rounding of the fp32 product.
    half = _layer(96, 80, bias, torch.bfloat16)
    xb = x.to(torch.bfloat16)
    got = row_product(xb, half.weight, half.bias)
    assert got.dtype == torch.bfloat16
    exact = F.linear(xb.float(), half.weight.float(), None if half.bias is None else half.bias.float())
    torch.testing.assert_close(got.float(), exact, rtol=1e-2, atol=1e-2)


def test_outside_compile_linear_is_the_layer_itself() -> None:
    layer = _layer(32, 16, True, torch.float32)
    x = torch.randn(1, 16)
    assert torch.equal(linear(layer, x), layer(x))


def _compiled_code(layer: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, str]:
    torch._dynamo.reset()
    fn = torch.compile(lambda t: linear(layer, t), fullgraph=True, dynamic=False, backend="inductor")
    out, codes = run_and_get_code(fn, x)
    return out, "\n".join(codes)


@pytest.mark.slow
def test_inductor_fuses_one_row_and_leaves_the_rest_to_the_library() -> None:
    """One to four rows, row-major weight: a generated reduction, no extern mm, values of F.linear. Eight
    rows, or a column-major (eager decode layout) weight: the library product, as before."""
    layer = _layer(64, 48, False, torch.float32)
    one = torch.randn(1, 1, 48, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        out, code = _compiled_code(layer, one)
        torch.testing.assert_close(out, layer(one), rtol=1e-5, atol=1e-5)
        assert "cpp_fused_mul_sum" in code and "extern_kernels.mm" not in code
        four = torch.randn(2, 2, 48, generator=torch.Generator().manual_seed(5))  # a batch-2 fast step
        out, code = _compiled_code(layer, four)
        torch.testing.assert_close(out, layer(four), rtol=1e-5, atol=1e-5)
        assert "cpp_fused_mul_sum" in code and "extern_kernels.mm" not in code

        eight = torch.randn(2, 4, 48, generator=torch.Generator().manual_seed(4))
        out, code = _compiled_code(layer, eight)
        torch.testing.assert_close(out, layer(eight), rtol=1e-5, atol=1e-5)
        assert "extern_kernels.mm" in code

        layer.weight = nn.Parameter(column_major(layer.weight))
        out, code = _compiled_code(layer, one)
        torch.testing.assert_close(out, layer(one), rtol=1e-5, atol=1e-5)
        assert "extern_kernels.mm" in code
