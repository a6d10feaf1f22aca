"""Architecture specs: layouts, flat vector <-> state_dict, batched forward == per-model forward."""
import json

import pytest
import torch

from core.errors import HyperVizError
from core.zoo.arch import KNOWN_ARCHS, ArchSpec, get_arch, recognise
from core.zoo.batched import _dropout, batched_forward, batched_loss, batched_loss_and_correct, loss_and_grad
from core.zoo.modules import build_module, init_vector, split_params, state_dict_to_vector, vector_to_state_dict


def test_parameter_counts_match_the_published_zoos():
    assert KNOWN_ARCHS["modelzoo_cnn"].n_params == 2464
    assert KNOWN_ARCHS["modelzoo_cnn_rgb"].n_params == 2864
    assert 1100 <= KNOWN_ARCHS["cnn"].n_params <= 1300
    # Model Zoos layout: layer starts 0, 208, 1414, 1514, 2254
    starts = [s.offset for s in KNOWN_ARCHS["modelzoo_cnn"].layout if s.kind == "weight"]
    assert starts == [0, 208, 1414, 1514, 2254]


@pytest.mark.parametrize("name", list(KNOWN_ARCHS))
def test_json_round_trip_and_recognition(name):
    spec = KNOWN_ARCHS[name]
    again = ArchSpec.from_json(json.dumps(json.loads(spec.to_json())))
    assert again == spec and again.layout == spec.layout
    assert recognise(spec.param_shapes()) is spec


@pytest.mark.parametrize("name", list(KNOWN_ARCHS))
def test_vector_state_dict_round_trip(name):
    spec = KNOWN_ARCHS[name]
    module = build_module(spec, "tanh")
    vec = state_dict_to_vector(spec, module.state_dict())
    assert vec.shape == (spec.n_params,)
    back = vector_to_state_dict(spec, vec)
    for key, tensor in module.state_dict().items():
        assert torch.equal(back[key], tensor)
    # the flat layout is weight (output-major) then bias, layer by layer
    first = spec.layout[0]
    assert torch.equal(vec[: first.size], module.state_dict()[first.key].reshape(-1))


@pytest.mark.parametrize("name", ["cnn", "mlp", "modelzoo_cnn", "modelzoo_cnn_rgb"])
@pytest.mark.parametrize("activation", ["tanh", "relu", "sigmoid", "gelu"])
def test_batched_forward_equals_per_model_forward(name, activation):
    spec = KNOWN_ARCHS[name]
    gen = torch.Generator().manual_seed(1)
    weights = torch.stack([init_vector(spec, init, gen) for init in ("uniform", "normal", "kaiming_uniform", "kaiming_normal")])
    shared = torch.rand(6, *spec.input_shape, generator=gen)
    per_model = torch.rand(4, 6, *spec.input_shape, generator=gen)
    out_shared = batched_forward(spec, weights, shared, activation)
    out_per_model = batched_forward(spec, split_params(spec, weights), per_model, activation)
    assert out_shared.shape == (4, 6, spec.n_classes)
    for i in range(4):
        module = build_module(spec, activation).eval()
        module.load_state_dict(vector_to_state_dict(spec, weights[i]))
        torch.testing.assert_close(out_shared[i], module(shared), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(out_per_model[i], module(per_model[i]), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["cnn", "mlp"])
def test_models_of_several_activations_in_one_batch_equal_each_model_alone(name):
    spec = KNOWN_ARCHS[name]
    activations = ["tanh", "tanh", "relu", "gelu", "sigmoid", "relu"]       # runs of 2, 1, 1, 1, 1
    gen = torch.Generator().manual_seed(2)
    weights = torch.stack([init_vector(spec, "kaiming_normal", gen) for _ in activations])
    x = torch.rand(len(activations), 5, *spec.input_shape, generator=gen)
    y = torch.randint(0, spec.n_classes, (len(activations), 5), generator=gen)
    logits = batched_forward(spec, weights, x, activations)
    loss, grad = loss_and_grad(spec, weights, x, y, activations)
    torch.testing.assert_close(loss, batched_loss(logits, y))
    for i, activation in enumerate(activations):
        module = build_module(spec, activation).eval()
        module.load_state_dict(vector_to_state_dict(spec, weights[i]))
        torch.testing.assert_close(logits[i], module(x[i]), rtol=1e-5, atol=1e-5)
        torch.nn.functional.cross_entropy(module(x[i]), y[i]).backward()
        alone = state_dict_to_vector(spec, {k: p.grad for k, p in module.named_parameters()})
        torch.testing.assert_close(grad[i], alone, rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="expected one of"):
        batched_forward(spec, weights, x, activations[:-1])                 # one name short
    with pytest.raises(ValueError, match="expected one of"):
        batched_forward(spec, weights, x, activations[:-1] + ["swish"])


@pytest.mark.parametrize("name", ["cnn", "modelzoo_cnn_rgb"])
@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
def test_gradients_on_a_shared_input_equal_each_model_alone(name, layout):
    # a shared image batch runs the first convolution as one matrix product of its patches
    # (batched._SharedInputConv); its weight and bias gradients must be each model's own,
    # whichever strides the batch comes with (the bundled tasks give both)
    spec = KNOWN_ARCHS[name]
    gen = torch.Generator().manual_seed(3)
    weights = torch.stack([init_vector(spec, "kaiming_uniform", gen) for _ in range(3)])
    x = torch.rand(5, *spec.input_shape, generator=gen)
    if layout == "channels_last":
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, spec.n_classes, (5,), generator=gen)
    loss, grad = loss_and_grad(spec, weights, x, y, "relu")
    for i in range(3):
        module = build_module(spec, "relu")
        module.load_state_dict(vector_to_state_dict(spec, weights[i]))
        alone = torch.nn.functional.cross_entropy(module(x), y)
        alone.backward()
        torch.testing.assert_close(loss[i], alone.detach(), rtol=1e-5, atol=1e-6)
        expected = state_dict_to_vector(spec, {k: p.grad for k, p in module.named_parameters()})
        torch.testing.assert_close(grad[i], expected, rtol=1e-4, atol=1e-6)


def test_batched_dropout_uses_each_models_rate():
    spec = KNOWN_ARCHS["mlp"]
    weights = torch.stack([init_vector(spec, "kaiming_uniform", torch.Generator().manual_seed(i)) for i in range(2)])
    x = torch.rand(64, *spec.input_shape)
    rate = torch.tensor([0.0, 0.5])
    out = batched_forward(spec, weights, x, "relu", dropout=rate, generator=torch.Generator().manual_seed(0))
    clean = batched_forward(spec, weights, x, "relu")
    torch.testing.assert_close(out[0], clean[0])          # rate 0: unchanged
    assert not torch.allclose(out[1], clean[1])           # rate 0.5: perturbed


@pytest.mark.parametrize("layout", ["image", "features"])
@pytest.mark.parametrize("rates", [[0.0, 0.0, 0.3, 0.5, 0.9], [0.3, 0.5, 0.9]])    # a slice of the chunk; all of it
def test_dropout_drops_each_models_share_and_scales_the_rest(layout, rates):
    """[B, N*C, H, W] (channels-last) and [N, B, F]: model n drops about rate[n] of its units,
    multiplies the others by 1 / (1 - rate[n]), and the gradient carries the same mask."""
    rate = torch.tensor(rates)
    n = len(rate)
    span = (n - 3, n)
    if layout == "image":
        h = torch.ones(64, n * 4, 8, 8).contiguous(memory_format=torch.channels_last)
        per_model = lambda t: t.transpose(0, 1).reshape(n, -1)     # noqa: E731
    else:
        h = torch.ones(n, 64, 256)
        per_model = lambda t: t.reshape(n, -1)                        # noqa: E731
    h.requires_grad_(True)
    out = _dropout(h, rate, n, span, torch.Generator().manual_seed(0))
    (grad,) = torch.autograd.grad(out.sum(), h)
    assert out.shape == h.shape
    values = per_model(out.detach())
    for i, r in enumerate(rate.tolist()):
        kept = values[i] != 0
        assert abs(kept.float().mean().item() - (1 - r)) < 0.02      # 16,384 units a model
        torch.testing.assert_close(values[i][kept], torch.full_like(values[i][kept], 1 / (1 - r)))
    assert torch.equal(per_model(grad), values)                        # d out / d h is the mask itself
    again = _dropout(h.detach(), rate, n, span, torch.Generator().manual_seed(0))
    assert torch.equal(again, out.detach())                            # the generator decides the masks


def test_loss_and_correct_per_model():
    logits = torch.tensor([[[5.0, 0.0], [0.0, 5.0]], [[5.0, 0.0], [5.0, 0.0]]])  # [N=2, B=2, K=2]
    loss, correct = batched_loss_and_correct(logits, torch.tensor([0, 1]))
    assert correct.tolist() == [2, 1]
    assert loss[0] < loss[1]


def test_bad_specs_are_one_line_errors():
    with pytest.raises(HyperVizError, match="unknown type"):
        ArchSpec("x", (1, 8, 8), ({"type": "attention"},))
    with pytest.raises(HyperVizError, match="expects 3 input channels"):
        ArchSpec("x", (1, 8, 8), ({"type": "conv", "in": 3, "out": 4, "kernel": 3}, {"type": "flatten"}))
    with pytest.raises(HyperVizError, match="invalid JSON"):
        ArchSpec.from_json("{nope", source="spec.json")
    with pytest.raises(HyperVizError, match="unknown"):
        get_arch("resnet")
    with pytest.raises(HyperVizError, match="does not fit"):
        vector_to_state_dict(KNOWN_ARCHS["cnn"], torch.zeros(5))
