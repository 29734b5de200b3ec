"""Linear layers laid out for batched decoding on a CPU in fp32.

``nn.Linear`` keeps its weight as [out, in] and multiplies by its transpose. On a 2-core fp32
CPU the BLAS kernel for that layout slows sharply from 4 rows on: the 0.5B teacher's linear
layers for 8 rows took 141 ms a step against 91 ms with the weight stored as [in, out] (lm_head
45 against 34 ms; one row about the same either way, 2-3 rows faster the old way). Batched
decoding runs up to 16 rows, so the teacher's linears keep the [in, out] copy and drop the
other (``TransformersEngine(transpose=False)`` keeps nn.Linear, as the speed bench's old path).
Student training gains nothing from it (forward and backward of MiniLM-sized layers within
10 % either way), so only the teacher uses it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import nn


def _transposed_linear_class() -> type[nn.Module]:
    import torch
    from torch import nn

    class TransposedLinear(nn.Module):
        """``nn.Linear``'s function, weight stored as [in, out] (inference only)."""

        def __init__(self, linear: nn.Linear) -> None:
            super().__init__()
            self.in_features, self.out_features = linear.in_features, linear.out_features
            self.weight_t = nn.Parameter(linear.weight.detach().t().contiguous(),
                                         requires_grad=False)
            self.bias = (nn.Parameter(linear.bias.detach().clone(), requires_grad=False)
                         if linear.bias is not None else None)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            flat = x.reshape(-1, self.in_features)
            out = (torch.addmm(self.bias, flat, self.weight_t) if self.bias is not None
                   else flat @ self.weight_t)
            return out.view(*x.shape[:-1], self.out_features)

    return TransposedLinear


def transpose_linears(model: Any) -> int:
    """Replace every ``nn.Linear`` of ``model`` by a ``TransposedLinear`` (same outputs up to
    float rounding); the number replaced. A weight tied to an embedding (lm_head) gets its own
    transposed copy; the embedding keeps its own.

    The other tensors (embedding, norms) are copied too, so that none still points into the
    memory-mapped weights file and its pages are released: the 0.5B teacher then holds 2.9 GiB
    against 2.4 GiB in nn.Linear's layout (lm_head's copy), not 4.2 GiB."""
    from torch import nn

    transposed = _transposed_linear_class()
    swaps = [(parent, name, child) for parent in model.modules()
             for name, child in parent.named_children() if type(child) is nn.Linear]
    for parent, name, child in swaps:
        setattr(parent, name, transposed(child))
    fresh = {id(t) for module in model.modules() if isinstance(module, transposed)
             for t in module.parameters()}
    for tensor in [*model.parameters(), *model.buffers()]:
        if id(tensor) not in fresh:
            tensor.data = tensor.data.clone()
    return len(swaps)
