"""Running N models of one architecture at once.

The parameters of N models are stacked (``[N, *shape]`` per tensor) and every layer runs for all
of them in one kernel:

* convolutions as one grouped convolution: the N models' channels side by side
  (``[B, N*C, H, W]``, channels-last memory, which oneDNN runs fastest on a CPU), ``groups=N``;
* linear layers as one batched matrix product over ``[N, B, F]``.

On a 2-core CPU this trains the default CNN about an order of magnitude faster than looping over
models (``hyperviz bench zoo``); on a GPU it turns thousands of tiny networks into a few large
kernels. :func:`batched_forward` equals ``build_module(spec, activation, dropout)(x)`` per model
(tested with ``allclose``), and training with :func:`loss_and_grad` and
:class:`core.zoo.population.PopulationOptimizer` equals ``torch.optim`` on each model alone.

**Where the time goes** (``torch.profiler`` over one epoch of the four 64-model chunks of
``bench zoo --models 256``, batch 32, 1 thread, on this 2-core machine under a load of ~5, so
the absolute times are slow; 22.5 ms a step under the profiler, 18.6 ms without):

==========================================  ======  =========
what                                        share   ms / step
==========================================  ======  =========
first conv forward (1 -> 8 per model, 8x8)   17.7%      3.98
max pools, forward and backward              16.7%      3.75
second conv backward (8 -> 6, 4x4)           12.5%      2.81
dispatch and small ops (Python, autograd)    10.2%      2.30
dropout masks (random numbers, where)         9.3%      2.11
first conv backward (weights only)            8.2%      1.85
second conv forward                           7.3%      1.64
copies (layouts, parameter leaves)            5.9%      1.33
activations, forward and backward             4.5%      1.02
loss (log-softmax, NLL), argmax               3.0%      0.67
linear layers (baddbmm / bmm)                 2.7%      0.62
optimiser step and gradient join ([N, P])     2.1%      0.47
==========================================  ======  =========

So 46% is oneDNN's grouped convolutions at tiny sizes per group and 17% the pool after the
first one; both are bound by memory, not arithmetic: the first conv's output ``[32, 64*8, 8, 8]``
is 4 MiB a step, written, read by the pool, and its gradient zero-filled (the pool's backward)
and read back. At 18.6 ms a step, 64 models x 2.3 MFLOP is ~8 GFLOP/s on one core, a small part
of its float32 peak. What was measured and not taken (1 thread, forward + backward, 64 models):
the first conv as unfold + ``bmm`` 20.2 ms against 6.0 grouped channels-last (NCHW 11.7), as
``bmm`` on patches precomputed once per data set 8.4 against 4.8, as shifted slices + ``bmm``
13.7; the second conv as unfold + ``bmm`` 69 ms against 9.1 (shifted slices 35); the first conv as
a depthwise convolution (the input repeated per filter, ``groups=N*8``) 4.0 against 4.9 alone
but no faster in training (3.48 against 3.27 s per 256 model-epochs, medians of 4 alternating);
chunks of 32 / 64 / 128 models within the noise (16: a third slower, the per-step dispatch).
What was taken: the parameter leaves and the fused optimiser (below and in
:mod:`core.zoo.population`: the per-slice backward of a flat ``[N, P]`` tensor zero-filled
eight ``[N, P]`` gradients a step), masks only for the models with dropout, and
:func:`retain_freed_cpu_memory` (page faults), together 256 model-epochs in 2.75 s of CPU
instead of 3.4-4.0 s.

Second round (2 threads, quiet; the machine's speed drifted by a third over the day, so only
ratios from one process, alternating, are quoted). Dropout was a third of a step: 19.2-20.0 ms
for a chunk with half its models at rate 0.3 against 13.3 with every rate 0. Taken: masks from
15-bit integers, four from one 64-bit draw (:func:`_uniform_draws`; torch's CPU generator makes
one number at a time), scaling only
the dropout models' slice (:class:`_ScaleSlice`), and a multiply instead of ``torch.where``
(which runs at ~3.5 ns an element here): the four 64-model chunks of ``bench zoo`` train 1.11x
faster (median of 6 alternating pairs). Measured and not taken: the first conv as a depthwise
convolution (1.03x, noise); the second conv as a dense ``[C*H*W, O*H*W]`` (Toeplitz) matrix per
model: its three ``bmm`` take 1.6 ms against 4.4 for the grouped convolution forward and
backward, but building the matrix and folding its gradient back (``index_select`` /
``index_add_`` 2.1 ms, strided diagonal views 5.1 ms) cost more than that; packing two models
into one group, with block-diagonal weights, so that oneDNN's 16-channel blocks are less
padding (1.0-1.1x slower: the convolutions here are bound by memory traffic, not by their
arithmetic); a pool backward as one ``where`` over the window positions (1.4x slower step);
``torch.compile`` (inductor) of the forward and backward (20.0 against 12.6 ms, after a 48 s
compile). Larger chunks did pay: 128 models a chunk train at ~195 us a model-step against
~250 for 64 (256: ~220), but a chunk then held one activation, and the default grid has 64 models of
each in a 256-model zoo.

Why ``bench zoo`` stayed near 10x with one chunk on two threads: a step of n models took about
``a + b * n`` with a ~3 ms (dispatch, thread hand-offs, the loss) and b ~0.2 ms a model (3.5 ms
at n = 2, 11.1 at 32, 18.1 at 64, 29.8 at 128), while one model alone takes ~3 ms a step in
``nn.Module`` and ``torch.optim``: even with no fixed cost at all the ratio would be 3 / 0.2 = 15.

Third round (2026-12-03): one thread per chunk, chunks side by side
(:func:`core.zoo.population.train_chunks`), and chunks that mix activations
(:class:`_MixedActivation`) so that a 256-model zoo gives two chunks of 128. On one thread a
model-epoch costs 13.8 / 12.0 / 10.7 / 12.9 ms in chunks of 32 / 64 / 128 / 256 (wall time,
medians of three; at 256 it is slower again); two chunks side by side scale 2.0x
(76 -> 153 model-epochs/s for 64-model chunks), where one chunk on two threads gains 1.36x;
mixing activations costs ~1% of CPU time (128 mixed 14.6 against 14.5 ms of one activation,
CPU time). ``torch.profiler`` over an epoch of the two 128-model chunks, one thread: the
convolutions' backward 25% and forward 17%, ``fill_`` 7% (most of it the max pool's zero-filled
gradient), copies 7%, the max pool forward 6% and backward 4%, the activations (forward and
backward) ~12%, the loss 3.4%, dropout's random numbers 2.2%. What is left is oneDNN's grouped
convolutions at a few channels a group and the memory traffic around the first convolution's
``[32, N*8, 8, 8]`` output; the next step would be a fused kernel for convolution + pool per model.

Fourth round (same day, one thread, 128 models, batch 32). The max pool's zero fill of its
``[32, 1024, 8, 8]`` gradient took 4.4 ms a step in training against 0.5 ms for refilling one
warm buffer of that size (1.1 ms for a fresh one): the step is bound by memory traffic to and
from tensors that are no longer in cache, not by a slow kernel. Measured and not taken: the first
convolution's weight gradient as one ``bmm`` of the output gradient and the patches (38 ms
against 10.8 for oneDNN's backward) or as a convolution of the input with the gradient (40-45
ms); oneDNN switched off (torch's own kernels, 3-7x slower); a fused convolution + pool forward
written as plain loops in numba, untuned (30 against 11 ms for the first convolution and its
pool, 28 against 6 for the second): a fused kernel pays only if it is written for the vector
units. Taken: dropout in a chunk where every model has it multiplies by the mask at once
(a dropout chunk 1.97 against 2.11 s of CPU an epoch, the same bits), and a shared input's
first convolution as one matrix product (:class:`_SharedInputConv`, evaluation).
"""
from __future__ import annotations

import ctypes
import functools
import itertools
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from core.zoo.arch import ArchSpec
from core.zoo.modules import split_params

_ACT = {"tanh": torch.tanh, "relu": torch.relu, "sigmoid": torch.sigmoid, "gelu": F.gelu}


def batched_forward(
    spec: ArchSpec,
    params: list[torch.Tensor] | torch.Tensor,
    x: torch.Tensor,
    activation: str | Sequence[str],
    dropout: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Logits ``[N, B, n_classes]`` of N models.

    params:     flat ``[N, n_params]`` or the per-slot list from :func:`core.zoo.modules.split_params`.
    x:          ``[B, *input_shape]`` shared by all models, or ``[N, B, *input_shape]`` per model.
    activation: one activation for all N models, or each model's (N names; models of one
                activation next to each other cost least, see :class:`_MixedActivation`).
    dropout:    per-model rates ``[N]`` applied at the spec's dropout layers (training mode);
                None means evaluation mode (no dropout).
    """
    if isinstance(params, torch.Tensor):
        params = split_params(spec, params)
    n = params[0].shape[0]
    act = _activation(activation, n)
    span = _dropout_span(dropout)
    shared = x.dim() == len(spec.input_shape) + 1
    if len(spec.input_shape) == 3:
        # image features as [B, N*C, H, W], channels-last: model n owns channels n*C .. n*C+C-1.
        # A shared input stays [B, C, H, W], in whatever strides it came, until the first
        # convolution, which runs as one matrix product of its patches (_SharedInputConv; no
        # per-model copies of the input) and hands on channels-last.
        if shared:
            h = x
        else:
            h = x.transpose(0, 1).reshape(x.shape[1], -1, *x.shape[-2:]).contiguous(memory_format=torch.channels_last)
    else:
        h = x.unsqueeze(0) if shared else x                   # [N|1, B, F]
    p = 0
    for layer in spec.layers:
        kind = layer["type"]
        if kind == "conv":
            w, b = params[p], params[p + 1]                   # [N, O, C, k, k], [N, O]
            w, b, padding = w.reshape(-1, *w.shape[2:]), b.reshape(-1), int(layer.get("padding", 0))
            if shared and p == 0 and not h.requires_grad:     # the shared input's first conv
                h = _SharedInputConv.apply(h, w, b, padding)
            else:                                             # [B, N*C, H, W]: one group per model
                groups = n if h.shape[1] == n * w.shape[1] else 1     # 1: a shared input that needs a gradient
                h = F.conv2d(h, w, b, padding=padding, groups=groups)
            p += 2
        elif kind == "linear":
            w, b = params[p], params[p + 1]                   # [N, O, I], [N, O]
            h = torch.baddbmm(b.unsqueeze(1), h.expand(n, -1, -1), w.transpose(1, 2))
            p += 2
        elif kind == "maxpool":
            h = F.max_pool2d(h, int(layer["size"]))
        elif kind == "act":
            h = act(h)
        elif kind == "dropout" and span is not None:
            h = _dropout(h, dropout, n, span, generator)
        elif kind == "flatten" and h.dim() == 4 and shared and p == 0:   # shared image, no conv yet: [1, B, C*H*W]
            h = h.reshape(1, h.shape[0], -1)
        elif kind == "flatten" and h.dim() == 4:              # [B, N*C, H, W] -> [N, B, C*H*W]
            h = h.reshape(h.shape[0], n, -1).transpose(0, 1)
        elif kind == "flatten" and h.dim() > 3:
            h = h.reshape(*h.shape[:2], -1)
    return h.expand(n, -1, -1)


class _SharedInputConv(torch.autograd.Function):
    """The first convolution of N models on one shared input ``[B, C, H, W]`` (stride 1), as one
    matrix product: the input's patches ``[B*H'*W', C*k*k]`` times the N models' filters side by
    side ``[C*k*k, N*O]``. The product is already the channels-last ``[B, N*O, H', W']`` the
    layers after it want, whatever strides the input came with, and the weight gradient is one
    product of the output gradient with the same patches (the input is data: no gradient).

    Why: ``F.conv2d`` picks its kernel from the input's strides, and a one-channel batch is
    ambiguous: from a plain C-ordered array (four of the five bundled tasks) oneDNN ran the NCHW
    kernel and handed an NCHW output to the grouped convolutions after it. Measured on this CPU:
    128 models, batch 32, one thread, forward 2.2 against 12.2 ms (forward and backward 4.7
    against 30); ``hyperviz bench eval --task shapes`` (1,000 models) 0.71 against 2.33 s, and
    ``zoo build --task shapes --models 128 --epochs 2`` 11.3 against 19.3 s (its evaluation after
    every epoch); on digits, whose batches are already channels-last, the same either way. Zoo
    training feeds each model its own batch and runs the grouped convolution instead."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, padding: int) -> torch.Tensor:
        bsz, _, height, width = x.shape
        channels_out, kernel = w.shape[0], w.shape[-1]
        patches = F.unfold(x, kernel, padding=padding)                      # [B, C*k*k, H'*W']
        patches = patches.transpose(1, 2).reshape(-1, patches.shape[1])     # [B*H'*W', C*k*k]
        out = torch.addmm(b, patches, w.reshape(channels_out, -1).t())      # [B*H'*W', N*O]
        ctx.save_for_backward(patches)
        ctx.w_shape = w.shape
        side = height + 2 * padding - kernel + 1, width + 2 * padding - kernel + 1
        return out.view(bsz, *side, channels_out).permute(0, 3, 1, 2)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (patches,) = ctx.saved_tensors
        grad = grad.permute(0, 2, 3, 1).reshape(-1, grad.shape[1])          # [B*H'*W', N*O]; a view when channels-last
        grad_w = (grad.t() @ patches).view(ctx.w_shape) if ctx.needs_input_grad[1] else None
        grad_b = grad.sum(0) if ctx.needs_input_grad[2] else None
        return None, grad_w, grad_b, None


def _activation(activation: str | Sequence[str], n: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """The function that applies N models' activations: one name for all, or N names."""
    if isinstance(activation, str):
        return _ACT[activation]
    names = list(activation)
    if len(names) != n or any(name not in _ACT for name in names):
        raise ValueError(f"activation: expected one of {sorted(_ACT)} or {n} of them, got {names!r}")
    runs, lo = [], 0                              # (name, first model, one past the last) per run
    for name, group in itertools.groupby(names):
        hi = lo + sum(1 for _ in group)
        runs.append((name, lo, hi))
        lo = hi
    if len(runs) == 1:
        return _ACT[names[0]]
    return lambda h: _MixedActivation.apply(h, n, runs)


def _model_slice(h: torch.Tensor, n: int, lo: int, hi: int) -> tuple:
    """The index of models ``lo .. hi-1`` in ``[B, N*C, H, W]`` (channels) or ``[N, B, F]``."""
    if h.dim() == 4:
        per_model = h.shape[1] // n
        return slice(None), slice(lo * per_model, hi * per_model)
    return (slice(lo, hi),)


#: Each activation into a given output (``out=``), and its gradient into a given tensor, from
#: the output (or, for gelu, the input): the kernels autograd runs for the plain functions.
_ACT_INTO = {
    "tanh": lambda x, out: torch.tanh(x, out=out),
    "sigmoid": lambda x, out: torch.sigmoid(x, out=out),
    "relu": lambda x, out: torch.clamp_min(x, 0, out=out),       # what torch.relu is
    "gelu": lambda x, out: torch._C._nn.gelu(x, out=out),       # F.gelu's kernel; F.gelu takes no out=
}
_GRAD_INTO = {
    "tanh": lambda g, x, y, out: torch.ops.aten.tanh_backward.grad_input(g, y, grad_input=out),
    "sigmoid": lambda g, x, y, out: torch.ops.aten.sigmoid_backward.grad_input(g, y, grad_input=out),
    "relu": lambda g, x, y, out: torch.ops.aten.threshold_backward.grad_input(g, y, 0, grad_input=out),
    "gelu": lambda g, x, y, out: torch.ops.aten.gelu_backward.grad_input(g, x, approximate="none", grad_input=out),
}


class _MixedActivation(torch.autograd.Function):
    """Each model's own activation, for a chunk whose models differ in it.

    ``runs``: ``(name, lo, hi)``, models ``lo .. hi-1`` take activation ``name``. Each run is
    computed straight into its slice of one output (and its gradient into one gradient tensor),
    so mixing costs a kernel call per run and no copies; slicing a tensor for each run and
    joining the results with ``cat`` would instead make autograd zero-fill a full-size gradient
    per run. The values are those of the plain functions (the same kernels)."""

    @staticmethod
    def forward(ctx, h: torch.Tensor, n: int, runs: list) -> torch.Tensor:
        out = torch.empty_like(h)
        for name, lo, hi in runs:
            index = _model_slice(h, n, lo, hi)
            _ACT_INTO[name](h[index], out[index])
        ctx.save_for_backward(h, out)
        ctx.n, ctx.runs = n, runs
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        h, out = ctx.saved_tensors
        grad_in = torch.empty_like(h)
        for name, lo, hi in ctx.runs:
            index = _model_slice(h, ctx.n, lo, hi)
            _GRAD_INTO[name](grad[index], h[index], out[index], grad_in[index])
        return grad_in, None, None


def _dropout_span(rate: torch.Tensor | None) -> tuple[int, int] | None:
    """``(lo, hi)``: the models from the first to the last with a dropout rate above 0; None if none."""
    if rate is None:
        return None
    active = torch.nonzero(rate > 0).flatten().tolist()
    return (active[0], active[-1] + 1) if active else None


#: Dropout draws 15-bit uniform integers: a rate is rounded to a multiple of 1/32768 (at most
#: 1.5e-5 away), and four draws come from one 64-bit random number.
_DRAW_BITS = 15


def _uniform_draws(like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Uniform integers ``0 .. 2**15 - 1`` (int16) of ``like``'s shape, channels-last when
    ``like`` is an image batch (so that the mask and the features are walked in the same order).

    torch's CPU generator makes one number at a time (~9 ns a float32 on this machine's cores);
    ``random_`` on int64 gives 63 random bits per number, here cut into four 16-bit lanes of
    which the low 15 bits are kept (the top lane's 16th bit is always 0): a quarter of the draws
    for the same masks, measured 1,640 -> 480 us for the default CNN's 176k dropout units a step."""
    numel = like.numel()
    raw = torch.empty((numel + 3) // 4, dtype=torch.int64, device=like.device).random_(generator=generator)
    draws = raw.view(torch.int16)[:numel].bitwise_and_((1 << _DRAW_BITS) - 1)
    if like.dim() == 4:
        b, c, h, w = like.shape
        return draws.view(b, h, w, c).permute(0, 3, 1, 2)
    return draws.view(like.shape)


class _ScaleSlice(torch.autograd.Function):
    """``h`` with the slice ``index`` multiplied by ``scale``; the gradient is scaled the same way.

    Dropout touches only the models that have it (a slice of the chunk), so this copies ``h``
    once and scales the slice in place, instead of building a full-size scale tensor of ones and
    multiplying everything by it (forward and backward)."""

    @staticmethod
    def forward(ctx, h: torch.Tensor, scale: torch.Tensor, index: tuple) -> torch.Tensor:
        ctx.save_for_backward(scale)
        ctx.index = index
        out = h.clone()
        out[index].mul_(scale)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (scale,) = ctx.saved_tensors
        grad = grad.clone()
        grad[ctx.index].mul_(scale)
        return grad, None, None


def _dropout(h: torch.Tensor, rate: torch.Tensor, n: int, span: tuple[int, int],
             generator: torch.Generator | None) -> torch.Tensor:
    """Inverted dropout with a per-model rate ``[N]`` on ``[B, N*C, H, W]`` or ``[N, B, F]``.

    Masks are drawn only for the models ``span`` (from the first to the last with a rate above 0;
    a chunk is sorted by rate, so these are its dropout models): drawing random numbers is most of
    what dropout costs, and half of a mixed chunk needs none. A unit is dropped when its draw is
    below ``rate * 2**15`` (rounded), and kept ones are scaled by ``1 / (1 - rate)``."""
    lo, hi = span
    threshold = torch.round(rate[lo:hi] * (1 << _DRAW_BITS)).clamp_(max=(1 << _DRAW_BITS) - 1).to(torch.int16)
    keep_scale = (1.0 / (1.0 - rate[lo:hi])).to(h.dtype)
    index = _model_slice(h, n, lo, hi)
    if h.dim() == 4:                                                        # [B, m*C, H, W]
        per_model = h.shape[1] // n
        shape = (1, (hi - lo) * per_model, 1, 1)
        threshold, keep_scale = (t.repeat_interleave(per_model).view(shape) for t in (threshold, keep_scale))
    else:                                                                   # [m, B, F]
        shape = (hi - lo, 1, 1)
        threshold, keep_scale = threshold.view(shape), keep_scale.view(shape)
    draws = _uniform_draws(h[index], generator)
    scale = (draws >= threshold) * keep_scale                               # torch.where: twice as slow on a CPU
    if (lo, hi) == (0, n):                                                  # every model has dropout: no slice to keep
        return h * scale
    return _ScaleSlice.apply(h, scale, index)


def loss_and_grad(spec: ArchSpec, w: torch.Tensor, x: torch.Tensor, y: torch.Tensor, activation: str | Sequence[str],
                  dropout: torch.Tensor | None = None,
                  generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-model mean loss ``[N]`` and its gradient ``[N, P]`` for weights ``w [N, P]`` (not
    tracked by autograd) on a batch ``x``, ``y`` (see :func:`batched_forward`).

    The parameter tensors are copied out of ``w`` into contiguous leaves ``[N, *shape]`` and the
    gradients joined with one ``cat``: differentiating through slices of ``w`` instead made every
    slice's backward allocate, zero and add a whole ``[N, P]`` gradient (8 each per step for the
    default CNN)."""
    n = w.shape[0]
    params = [p.clone(memory_format=torch.contiguous_format).requires_grad_(True) for p in split_params(spec, w.detach())]
    logits = batched_forward(spec, params, x, activation, dropout, generator)
    loss = batched_loss(logits, y)
    grads = torch.autograd.grad(loss.sum(), params)
    return loss.detach(), torch.cat([g.reshape(n, -1) for g in grads], 1)


@functools.cache
def retain_freed_cpu_memory() -> bool:
    """Ask glibc's allocator to keep freed memory for reuse instead of returning it to the system.

    A batched step allocates and frees activations of several MiB (``[32, 64*8, 8, 8]`` floats is
    4 MiB); by default glibc serves such blocks with a fresh ``mmap`` and unmaps them when freed,
    so every step touches new pages: about 1,000 page faults a step, and a tensor fill that took
    3.5 ms instead of 1.1 ms. Raising the mmap and trim thresholds (32 MiB, the mmap maximum, and
    512 MiB) keeps those blocks in the heap; measured on a 64-model chunk, 1 thread: 20% less CPU
    time a step. The price: the process may hold up to 512 MiB of freed memory
    instead of returning it. Once per process; False where the C library has no ``mallopt`` (not glibc)."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(mallopt(m_mmap_threshold, 32 << 20)) and bool(mallopt(m_trim_threshold, 512 << 20))


def batched_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-model mean cross-entropy ``[N]``: logits ``[N, B, K]``; y ``[B]`` (shared) or ``[N, B]``."""
    n, bsz, k = logits.shape
    return F.cross_entropy(logits.reshape(n * bsz, k), y.expand(n, bsz).reshape(-1), reduction="none").view(n, bsz).mean(1)


def batched_loss_and_correct(logits: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-model mean cross-entropy ``[N]`` and number of correct predictions ``[N]`` (see :func:`batched_loss`)."""
    correct = (logits.argmax(-1) == y.expand(logits.shape[:2])).sum(1)
    return batched_loss(logits, y), correct
