"""Linear layers stored as [in, out] for batched CPU decoding give nn.Linear's outputs."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from evokd.teacher.local.cpu_layout import transpose_linears  # noqa: E402


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    embed = torch.nn.Embedding(50, 16)
    head = torch.nn.Linear(16, 50, bias=False)
    head.weight = embed.weight  # tied, as lm_head is
    return torch.nn.ModuleDict({"embed": embed, "block": torch.nn.Sequential(
        torch.nn.Linear(16, 32), torch.nn.SiLU(), torch.nn.Linear(32, 16)), "head": head})


def _forward(model: torch.nn.Module, ids: torch.Tensor) -> torch.Tensor:
    return model["head"](model["block"](model["embed"](ids)))


@pytest.mark.parametrize("rows", [1, 3, 8])
def test_transposed_linears_give_the_same_outputs(rows: int) -> None:
    model = _model()
    ids = torch.randint(0, 50, (rows, 5))
    before = _forward(model, ids)
    assert transpose_linears(model) == 3
    after = _forward(model, ids)
    assert after.shape == before.shape == (rows, 5, 50)
    assert torch.allclose(after, before, atol=1e-5)
    assert not any(type(m) is torch.nn.Linear for m in model.modules())
    assert model["block"][0].weight_t.shape == (16, 32) and model["block"][0].bias is not None
    assert model["head"].bias is None


def test_the_embedding_keeps_its_own_weight() -> None:
    model = _model()
    weight = model["embed"].weight.detach().clone()
    transpose_linears(model)
    assert torch.equal(model["embed"].weight, weight)
    assert model["head"].weight_t.data_ptr() != model["embed"].weight.data_ptr()


def test_no_tensor_still_points_into_the_loaded_weights() -> None:
    """Loaded weights may be a memory-mapped file: every tensor left (biases, embedding)
    is a copy, so the mapping is released."""
    model = _model()
    loaded = {t.data_ptr() for t in [*model.parameters(), *model.buffers()]}
    transpose_linears(model)
    assert not loaded & {t.data_ptr() for t in [*model.parameters(), *model.buffers()]}
