"""The transform contract and the flow that composes transforms over a base distribution.

Direction convention: the *forward* pass maps data ``x`` to code ``z`` (``encode``, the
encoder); the *inverse* pass maps code back to data (``decode``, the decoder). The density of
the data follows by the change of variables,

    log p(x | c) = log p_base(z) + log|det dz/dx|,    z = f(x; c).

Public methods validate their inputs (shapes, dtype, device, finiteness, the condition) and
raise ``ValueError`` / ``TypeError`` that name the argument. Their ``*_unchecked`` twins skip the
checks and the chunking; training loops, sweeps and fast paths call those on inputs that were
checked once.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

import numpy as np
import torch
from torch import Tensor, nn

from innlab._validation import (
    check_matrix,
    check_nonnegative_int,
    check_positive_float,
    check_positive_int,
    check_seed,
    surely_finite,
)
from innlab.flows.distributions import StandardNormal

if TYPE_CHECKING:
    from innlab.flows.view import FlowDistribution

__all__ = ["AnalyticPass", "BaseDistribution", "Flow", "Transform"]

EVAL_CHUNK_BYTES = 1 << 19
"""Without gradients, CPU passes run over chunks of rows whose intermediate activations take
about this many bytes per torch thread: a chunk stays in the cache through all transforms, and
no pass allocates (and page-faults through) tens of megabytes. Measured on 100k two-moons points
and 10k 64-dim points at 1 and 2 threads, this size was the fastest or within about 5% of it for
both coupling layouts (1 MB regardless of layout and threads was up to 3.8x slower)."""

SAMPLE_CHUNK_ROWS = 1 << 18
"""Sampling draws and decodes this many codes at a time (a multiple of 16, see
:meth:`Flow.sample`), so that its memory is the output's plus a few megabytes."""

_Out = TypeVar("_Out", Tensor, tuple[Tensor, Tensor])


class BaseDistribution(Protocol):
    """What a flow needs of its base distribution (e.g. :class:`StandardNormal`)."""

    dim: int

    def log_prob(self, z: Tensor) -> Tensor: ...

    def sample(
        self, num_samples: int, *, generator: torch.Generator | None = ..., temperature: float = ...
    ) -> Tensor: ...


class AnalyticPass(Protocol):
    """A transform's hand-written training pass for batches of one size. It reads its input
    from a buffer fixed when it is made, writes its output into the buffer :attr:`y` (its own,
    or the input buffer itself, which the caller refills every step), and stores what
    :meth:`backward` needs; nothing is allocated per step.

    :meth:`backward` *writes* (does not accumulate) the gradient of every one of the transform's
    parameters into its ``.grad`` tensor, which must exist; training does not zero the gradient
    buffer between analytic steps.
    """

    y: Tensor

    def forward(self) -> Tensor:
        """The forward map of the input buffer, into :attr:`y`."""
        ...

    def backward(self, grad_y: Tensor) -> Tensor:
        """``d loss / dx`` ``(rows, dim)`` from ``d loss / dy``, into a reused buffer."""
        ...


class Transform(nn.Module):
    """An invertible map of ``(n, dim)`` tensors, optionally conditioned on ``c`` ``(n, k)``.

    **The contract.** ``forward(x, c) -> (y, log_det)`` and ``inverse(y, c) -> (x, log_det)``,
    where ``log_det`` has shape ``(n,)`` and is ``log|det J|`` of the map *in the direction
    called*: ``log|det dy/dx|`` for ``forward``, ``log|det dx/dy|`` for ``inverse``. So
    ``inverse(forward(x)[0])`` returns ``x`` and the two log-dets sum to zero. In a
    :class:`Flow`, ``forward`` is the data-to-code direction. Transforms with
    ``condition_size == 0`` ignore ``c``.

    ``forward`` and ``inverse`` validate their inputs and call :meth:`forward_unchecked` /
    :meth:`inverse_unchecked`, which subclasses implement (and which a :class:`Flow` calls
    directly, having checked its inputs once). Subclasses also set :attr:`dim`,
    :attr:`condition_size` and a :attr:`config` dict of constructor arguments (for saving; see
    :func:`innlab.flows.io.register`).
    """

    dim: int
    condition_size: int = 0
    volume_preserving: bool = False
    """``True`` when ``log_det`` is always zero (a flow then skips adding it)."""

    def forward(self, x: Tensor, c: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Map ``x`` ``(n, dim)`` to ``(y, log|det dy/dx|)``, shapes ``(n, dim), (n,)``."""
        return self.forward_unchecked(*self._check_inputs(x, c, "x"))

    def inverse(self, y: Tensor, c: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Map ``y`` ``(n, dim)`` back to ``(x, log|det dx/dy|)``, shapes ``(n, dim), (n,)``."""
        return self.inverse_unchecked(*self._check_inputs(y, c, "y"))

    def forward_unchecked(self, x: Tensor, c: Tensor | None) -> tuple[Tensor, Tensor]:
        """:meth:`forward` on inputs known to be valid."""
        raise NotImplementedError

    def inverse_unchecked(self, y: Tensor, c: Tensor | None) -> tuple[Tensor, Tensor]:
        """:meth:`inverse` on inputs known to be valid."""
        raise NotImplementedError

    def map_unchecked(self, x: Tensor, c: Tensor | None, *, inverse: bool = False) -> Tensor:
        """The map alone, ``(n, dim)``, in the direction asked, without its log-det (what a flow
        needs to draw samples, and from volume-preserving transforms). The default drops the
        log-det of :meth:`forward_unchecked` / :meth:`inverse_unchecked`; subclasses override
        it where skipping the log-det saves work."""
        return (self.inverse_unchecked if inverse else self.forward_unchecked)(x, c)[0]

    @property
    def config(self) -> dict[str, Any]:
        """Constructor arguments that rebuild this transform's architecture."""
        raise NotImplementedError

    @property
    def activations_per_row(self) -> int:
        """Intermediate values one row holds during a pass (sizes evaluation chunks)."""
        return self.dim

    def analytic_pass(
        self,
        x: Tensor,
        c: Tensor | None,
        log_det_sum: Tensor,
        grad_log_det: Tensor,
        tensors: dict[str, Tensor] | None = None,
    ) -> AnalyticPass | None:
        """The hand-written training pass whose input is the buffer ``x`` ``(rows, dim)`` (and
        the condition buffer ``c``); it writes the sum of the batch's log-dets into the 0-d
        ``log_det_sum`` and takes ``d loss / d log_det`` of every row from the 1-element
        ``grad_log_det``. The default has none (``None``): training then differentiates the
        transform with autograd. A subclass that overrides this method must return a pass.

        With ``tensors`` (this transform's parameters and buffers by name, each stacked over
        ``S`` seeds as ``(S, *shape)``, the parameters with ``.grad`` tensors of that shape),
        the pass trains ``S`` copies at once: ``x`` is ``(S, rows, dim)``, ``c``
        ``(S, rows, k)``, ``log_det_sum`` ``(S,)``, and the gradients go to the stacked
        ``.grad`` tensors.
        """
        return None

    def _check_inputs(self, x: Any, c: Any, name: str) -> tuple[Tensor, Tensor | None]:
        x = check_matrix(x, name, columns=self.dim)
        if self.condition_size == 0:
            return x, None
        if c is None:
            raise ValueError(
                f"c is required: this transform is conditional with condition_size="
                f"{self.condition_size}; pass a tensor of shape (n, {self.condition_size})"
            )
        c = check_matrix(
            c, "c", columns=self.condition_size, rows=x.shape[0], dtype=x.dtype, device=x.device
        )
        return x, c


class Flow(nn.Module):
    """A normalizing flow: ``transforms`` applied in order (data to code) over a ``base``.

    Args:
        transforms: the :class:`Transform` s, data side first, all of one ``dim``.
        base: the code distribution (default: ``StandardNormal(dim)``); anything with
            ``dim``, ``log_prob(z)`` and ``sample(n, *, generator, temperature)``.
        condition_size: width ``k`` of the condition every conditional transform receives
            (0: unconditional). Each transform's own ``condition_size`` is 0 or ``k``.

    Shapes: data and codes ``(n, d)``, conditions ``(n, k)``, log-densities ``(n,)`` in nats.

    Example:
        >>> from innlab.flows import AffineCoupling, FixedRotation
        >>> g = torch.Generator().manual_seed(0)
        >>> flow = Flow([AffineCoupling(2, 16, generator=g), FixedRotation(2, generator=g),
        ...              AffineCoupling(2, 16, generator=g)])
        >>> x, log_p = flow.sample_and_log_prob(5, generator=1)
        >>> torch.allclose(log_p, flow.log_prob(x), atol=1e-5)
        True
    """

    transforms: nn.ModuleList
    base: BaseDistribution

    def __init__(
        self,
        transforms: Iterable[Transform],
        base: nn.Module | None = None,
        *,
        condition_size: int = 0,
    ) -> None:
        super().__init__()
        self.transforms = nn.ModuleList(transforms)
        self.condition_size = check_nonnegative_int(condition_size, "condition_size")
        self.input_size = _check_parts(list(self.transforms), base, self.condition_size)
        self.base = StandardNormal(self.input_size) if base is None else base  # type: ignore[assignment]

    @property
    def layers(self) -> list[Transform]:
        """The transforms, data side first (typed view of :attr:`transforms`)."""
        return cast(list[Transform], list(self.transforms))

    # ------------------------------------------------------------------ properties
    @property
    def dtype(self) -> torch.dtype:
        """The dtype of the flow's parameters and buffers."""
        return self._reference().dtype

    @property
    def device(self) -> torch.device:
        """The device of the flow's parameters and buffers."""
        return self._reference().device

    @property
    def num_parameters(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def _reference(self) -> Tensor:
        """The first floating-point parameter or buffer (the base's, if nothing else)."""
        for tensor in itertools.chain(self.parameters(), self.buffers()):
            if tensor.is_floating_point():
                return tensor
        return torch.empty(0)

    # ------------------------------------------------------------------ validation
    def check_data(self, x: Any, name: str = "x") -> Tensor:
        """Validate data or codes ``(n, d)`` and convert them to the flow's dtype and device."""
        self._check_device()
        return check_matrix(x, name, columns=self.input_size, dtype=self.dtype, device=self.device)

    def _check_device(self) -> None:
        if self.device.type == "meta":
            raise RuntimeError(
                "this flow is on the meta device, which holds no values; build it on a real "
                "device, or use .to_empty(device=...) and load its weights first"
            )

    def check_conditions(self, c: Any, rows: int | None, name: str = "c") -> Tensor | None:
        """Validate a condition ``(rows, condition_size)`` (``None`` for unconditional flows)."""
        self._check_device()
        if self.condition_size == 0:
            if c is not None:
                raise ValueError(
                    f"{name} must be None for an unconditional model (condition_size=0), "
                    f"got a condition of shape {tuple(getattr(c, 'shape', ()))}"
                )
            return None
        if c is None:
            raise ValueError(
                f"{name} is required: this model is conditional with condition_size="
                f"{self.condition_size}; pass a tensor of shape (n, {self.condition_size})"
            )
        return check_matrix(
            c, name, columns=self.condition_size, rows=rows, dtype=self.dtype, device=self.device
        )

    # ------------------------------------------------------------------ unchecked passes
    def encode_unchecked(self, x: Tensor, c: Tensor | None) -> tuple[Tensor, Tensor]:
        """:meth:`encode` without validation or chunking (autograd flows through it)."""
        log_dets = []
        for transform in self.layers:
            if transform.volume_preserving:
                x = transform.map_unchecked(x, c)
            else:
                x, log_det = transform.forward_unchecked(x, c)
                log_dets.append(log_det)
        return x, _total(log_dets, x)

    def decode_unchecked(self, z: Tensor, c: Tensor | None) -> tuple[Tensor, Tensor]:
        """The inverse pass: codes ``z`` to ``(x, log|det dx/dz|)``, without validation."""
        log_dets = []
        for transform in reversed(self.layers):
            if transform.volume_preserving:
                z = transform.map_unchecked(z, c, inverse=True)
            else:
                z, log_det = transform.inverse_unchecked(z, c)
                log_dets.append(log_det)
        return z, _total(log_dets, z)

    def map_unchecked(self, x: Tensor, c: Tensor | None, *, inverse: bool = False) -> Tensor:
        """The flow's map alone (``inverse=True``: codes to data), without log-dets or
        validation: what :meth:`decode` and :meth:`sample` run."""
        for transform in reversed(self.layers) if inverse else self.layers:
            x = transform.map_unchecked(x, c, inverse=inverse)
        return x

    def log_prob_unchecked(self, x: Tensor, c: Tensor | None) -> Tensor:
        """:meth:`log_prob` without validation or chunking."""
        z, log_det = self.encode_unchecked(x, c)
        return self.base.log_prob(z) + log_det

    def chunk_rows(self, element_size: int) -> int:
        """Rows per evaluation chunk (see :data:`EVAL_CHUNK_BYTES`) at torch's thread count."""
        width = max([t.activations_per_row for t in self.layers] or [self.input_size])
        return max(256, EVAL_CHUNK_BYTES * torch.get_num_threads() // (width * element_size))

    def in_chunks(
        self, apply: Callable[[Tensor, Tensor | None], _Out], x: Tensor, c: Tensor | None
    ) -> _Out:
        """``apply(x, c)`` over chunks of rows on the CPU without gradients (see
        :data:`EVAL_CHUNK_BYTES`), else in one pass; the results are concatenated."""
        n = x.shape[0]
        rows = self.chunk_rows(x.element_size())
        if n <= rows or torch.is_grad_enabled() or x.device.type != "cpu":
            return apply(x, c)
        parts = [
            apply(x[i : i + rows], None if c is None else c[i : i + rows])
            for i in range(0, n, rows)
        ]
        if isinstance(parts[0], tuple):
            return cast(_Out, tuple(torch.cat(columns) for columns in zip(*parts, strict=True)))
        return cast(_Out, torch.cat(cast(list[Tensor], parts)))

    # ------------------------------------------------------------------ public API
    def encode(self, x: Tensor, c: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Forward pass (the encoder): data to code.

        Args:
            x: data, shape ``(n, d)``; converted to the flow's dtype and device.
            c: conditions, shape ``(n, condition_size)``; only for conditional flows.

        Returns:
            ``(z, log_det)``: codes ``(n, d)`` and ``log|det dz/dx|`` ``(n,)``.
        """
        x = self.check_data(x, "x")
        return self.in_chunks(self.encode_unchecked, x, self.check_conditions(c, x.shape[0]))

    def forward(self, x: Tensor, c: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Same as :meth:`encode`."""
        return self.encode(x, c)

    def decode(self, z: Tensor, c: Tensor | None = None) -> Tensor:
        """Inverse pass (the decoder): codes ``(n, d)`` to data ``(n, d)``."""
        z = self.check_data(z, "z")
        conditions = self.check_conditions(c, z.shape[0])
        return self.in_chunks(partial(self.map_unchecked, inverse=True), z, conditions)

    def log_prob(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        """Log-density of ``x`` ``(n, d)`` in nats, shape ``(n,)``.

        Includes the base density's normalising constant, so ``-log_prob(x).mean()`` is the
        negative log-likelihood per sample.
        """
        x = self.check_data(x, "x")
        return self.in_chunks(self.log_prob_unchecked, x, self.check_conditions(c, x.shape[0]))

    def sample(
        self,
        num_samples: int,
        conditions: Tensor | None = None,
        *,
        temperature: float = 1.0,
        generator: torch.Generator | int | None = None,
    ) -> Tensor:
        """Draw samples by decoding base codes (scaled by ``temperature``), without gradients.

        Args:
            num_samples: points per condition row.
            conditions: ``(C, condition_size)`` for a conditional flow, else ``None``.
            temperature: standard deviation of the codes (1 = the model itself).
            generator: a ``torch.Generator`` or an int seed for reproducible draws.

        Returns:
            ``(num_samples, d)`` without conditions; ``(C, num_samples, d)`` with conditions,
            ``num_samples`` points for every condition row (one vectorised pass).
        """
        return self._sample(num_samples, conditions, temperature, generator, with_log_prob=False)[0]

    def sample_and_log_prob(
        self,
        num_samples: int,
        conditions: Tensor | None = None,
        *,
        temperature: float = 1.0,
        generator: torch.Generator | int | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Like :meth:`sample`, and the model's log-density of each returned point (nats), from
        the same decoding pass: shapes ``(n, d), (n,)`` or ``(C, n, d), (C, n)``.

        The log-density is that of the model (temperature 1), evaluated at the returned points.
        """
        x, log_p = self._sample(num_samples, conditions, temperature, generator, with_log_prob=True)
        assert log_p is not None
        return x, log_p

    def _sample(
        self,
        num_samples: int,
        conditions: Tensor | None,
        temperature: float,
        generator: torch.Generator | int | None,
        *,
        with_log_prob: bool,
    ) -> tuple[Tensor, Tensor | None]:
        """Draw and decode; above :data:`SAMPLE_CHUNK_ROWS` rows in chunks into one preallocated
        output (a chunk of ``16 k`` rows continues the generator's stream exactly as one large
        draw would, so the chunking does not change seeded samples)."""
        num_samples = check_positive_int(num_samples, "num_samples")
        temperature = _check_temperature(temperature, self.dtype)
        cond = self.check_conditions(conditions, None, "conditions")
        rows = 1 if cond is None else cond.shape[0]
        total, gen = rows * num_samples, _generator(generator)
        shape = (num_samples,) if cond is None else (rows, num_samples)
        _check_fits((total, self.input_size), self.dtype, self.device, "the samples")

        def draw(start: int, stop: int) -> tuple[Tensor, Tensor | None]:
            z = self.base.sample(stop - start, generator=gen, temperature=temperature)
            c = None if cond is None else cond[_row_owner(start, stop, num_samples, cond)]
            if not with_log_prob:
                return self.in_chunks(partial(self.map_unchecked, inverse=True), z, c), None
            x, log_det = self.in_chunks(self.decode_unchecked, z, c)
            return x, self.base.log_prob(z) - log_det

        with torch.no_grad():
            if total <= SAMPLE_CHUNK_ROWS:  # one draw: its output is the result, no copy
                x, log_p = draw(0, total)
            else:
                x = torch.empty(total, self.input_size, dtype=self.dtype, device=self.device)
                log_p = x.new_empty(total) if with_log_prob else None
                for start in range(0, total, SAMPLE_CHUNK_ROWS):
                    stop = min(start + SAMPLE_CHUNK_ROWS, total)
                    x[start:stop], part = draw(start, stop)
                    if log_p is not None and part is not None:
                        log_p[start:stop] = part
        _check_finite_samples(x, temperature)
        return x.view(*shape, self.input_size), None if log_p is None else log_p.view(shape)

    def distribution(self, c: Tensor | None = None) -> FlowDistribution:
        """A :class:`torch.distributions.Distribution` view of the flow (given ``c``).

        ``event_shape`` is ``(d,)``; a condition ``(C, condition_size)`` gives
        ``batch_shape == (C,)``. ``rsample`` is differentiable in the flow's parameters.
        """
        from innlab.flows.view import FlowDistribution

        return FlowDistribution(self, c)

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> None:
        """Write the flow's architecture and weights to ``path`` atomically, with a checksum."""
        from innlab.flows.io import save_model

        save_model(self, path)

    @classmethod
    def load(cls, path: str | Path, map_location: str | torch.device = "cpu") -> Any:
        """Load a flow written by :meth:`save` (no code is executed from the file)."""
        from innlab.flows.io import CheckpointError, load_model

        model = load_model(path, map_location=map_location)
        if not isinstance(model, cls):
            raise CheckpointError(
                f"checkpoint {str(path)!r} holds a {type(model).__name__}, not a {cls.__name__}"
            )
        return model


def _row_owner(start: int, stop: int, num_samples: int, cond: Tensor) -> Tensor:
    """Index of the condition row of samples ``start..stop`` (``num_samples`` per row)."""
    return torch.arange(start, stop, device=cond.device) // num_samples


def _check_temperature(temperature: Any, dtype: torch.dtype) -> float:
    """``temperature`` as a float >= 0 that scales codes without overflowing ``dtype``."""
    temperature = check_positive_float(temperature, "temperature", allow_zero=True)
    largest = torch.finfo(dtype).max / 100.0  # codes reach about 10 standard deviations
    if temperature > largest:
        raise ValueError(
            f"temperature must be at most {largest:.3g} for a {str(dtype).removeprefix('torch.')} "
            f"model, got {temperature:g}"
        )
    return temperature


def _check_fits(
    shape: tuple[int, int], dtype: torch.dtype, device: torch.device, what: str
) -> None:
    """Refuse, with a clear error, a tensor of ``shape`` that cannot fit in memory."""
    needed = shape[0] * shape[1] * torch.finfo(dtype).bits // 8
    available = _available_memory(device)
    if available is not None and needed > available:
        raise MemoryError(
            f"{what} need {needed / 2**30:.1f} GiB ({shape[0]:,} x {shape[1]} "
            f"{str(dtype).removeprefix('torch.')}) but only {available / 2**30:.1f} GiB of "
            f"memory are available on {device}; draw fewer at a time"
        )


def _available_memory(device: torch.device) -> int | None:
    """Free memory in bytes on ``device`` (``None`` where it cannot be told)."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    if device.type != "cpu":
        return None
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _check_finite_samples(x: Tensor, temperature: float) -> None:
    """Refuse samples that overflowed (huge temperatures, diverged weights)."""
    if surely_finite(x):
        return
    bad = int((~torch.isfinite(x)).any(dim=1).sum())
    if bad:
        raise ValueError(
            f"{bad:,} of {x.shape[0]:,} samples are not finite: the flow overflows at "
            f"temperature {temperature:g} (or its weights are not finite); lower the temperature"
        )


def _total(log_dets: list[Tensor], x: Tensor) -> Tensor:
    """The sum of per-transform log-dets ``(n,)`` (zeros when every transform keeps volume)."""
    if len(log_dets) > 1:  # two operations (and two backward nodes), however many transforms
        return torch.stack(log_dets, dim=1).sum(dim=1)
    return log_dets[0] if log_dets else x.new_zeros(x.shape[0])


def _generator(generator: torch.Generator | int | None) -> torch.Generator | None:
    """A ``torch.Generator`` from a generator, an int seed or ``None`` (torch's global one)."""
    if generator is None or isinstance(generator, torch.Generator):
        return generator
    if isinstance(generator, bool) or not isinstance(generator, (int, np.integer)):
        raise TypeError(
            f"generator must be a torch.Generator, an int seed or None, "
            f"got {type(generator).__name__}"
        )
    return torch.Generator().manual_seed(check_seed(generator, "generator"))


def _check_parts(transforms: list[nn.Module], base: nn.Module | None, condition_size: int) -> int:
    """Check that the transforms and the base agree on ``dim``; return it."""
    for i, transform in enumerate(transforms):
        if not isinstance(transform, Transform):
            raise TypeError(
                f"transforms[{i}] must be an innlab.flows.Transform, got {type(transform).__name__}"
            )
        if transform.condition_size not in (0, condition_size):
            raise ValueError(
                f"transforms[{i}] has condition_size={transform.condition_size}; the flow's "
                f"condition_size is {condition_size} (each transform takes 0 or the flow's)"
            )
    dims: set[int] = {cast(Transform, t).dim for t in transforms}
    if base is not None:
        dims.add(cast(BaseDistribution, base).dim)
    if not dims:
        raise ValueError("a Flow needs at least one transform or a base distribution, got none")
    if len(dims) != 1:
        raise ValueError(f"transforms and base must share one dim, got dims {sorted(dims)}")
    return check_positive_int(dims.pop(), "dim")
