"""RealNVP-style flows from innlab and its peer libraries behind one small interface.

Every ``build_*`` function takes an :class:`Arch` and a seed and returns a :class:`Runner` with

* ``train_step(x, c)``: one Adam step (lr 1e-3) on the mean negative log-likelihood of a batch;
* ``log_prob(x, c)``: log-density in nats, shape ``(n,)``, through the library's own API, so
  every library includes the standard normal's ``-d/2 log(2 pi)``;
* ``sample(n, c)``: ``n`` points ``(n, d)``; ``c`` holds one condition row per point;
* ``num_parameters``: trainable parameters (fixed rotations and permutations excluded);
* ``fit(x, c, epochs, batch_size, seed, on_epoch)``: the training loop that is timed.

``c`` is ``None`` for unconditional models. The architecture is innlab's: ``blocks`` affine
couplings that keep the first ``d // 2`` features and transform the rest, subnetworks with two
hidden ReLU layers of width ``hidden``, output layers initialised to zero, a fixed random
rotation (or permutation, where a library has no fixed rotation) between blocks, no
normalisation layers. Where a library cannot express that exactly, the runner's
``deviations`` says how it differs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, cast

import torch
from torch import Tensor, nn

if TYPE_CHECKING:
    from innlab import RealNVP

LR = 1e-3
ONE_SUBNET = "one-subnet"
SEPARATE = "separate s/t"

LogProbFn = Callable[[Tensor, Tensor | None], Tensor]
SampleFn = Callable[[int, Tensor | None], Tensor]
EpochCallback = Callable[[int], None]


@dataclass(frozen=True)
class Arch:
    """The flow every library builds: data dimension, subnet width, blocks, condition width."""

    dim: int
    hidden: int
    blocks: int
    cond: int = 0


class Unsupported(Exception):
    """The library cannot build this architecture (e.g. no conditioning)."""


def standard_normal_log_prob(z: Tensor) -> Tensor:
    return -0.5 * z.square().sum(dim=1) - 0.5 * z.shape[1] * math.log(2 * math.pi)


def mlp(n_in: int, n_out: int, hidden: int) -> nn.Sequential:
    """Two hidden ReLU layers and a linear output layer that starts at zero."""
    net = nn.Sequential(
        nn.Linear(n_in, hidden),
        nn.ReLU(),
        nn.Linear(hidden, hidden),
        nn.ReLU(),
        nn.Linear(hidden, n_out),
    )
    zero_init(net[-1])
    return net


def zero_init(layer: nn.Module) -> None:
    with torch.no_grad():
        for parameter in layer.parameters():
            parameter.zero_()


def random_rotation(dim: int) -> Tensor:
    """A random orthogonal matrix (QR of a Gaussian matrix), from torch's global generator."""
    q, r = torch.linalg.qr(torch.randn(dim, dim, dtype=torch.float64))
    return (q * torch.sign(torch.diagonal(r))).float()


@dataclass
class Runner:
    """One model of one library, trained with Adam (``torch.optim.Adam`` defaults, lr 1e-3)."""

    name: str
    library: str
    layout: str
    module: nn.Module
    log_prob_fn: LogProbFn
    sample_fn: SampleFn
    deviations: list[str] = field(default_factory=list)
    optimizer: torch.optim.Optimizer = field(init=False)

    def __post_init__(self) -> None:
        self.optimizer = torch.optim.Adam(self.trainable(), lr=LR)

    def trainable(self) -> list[Tensor]:
        return [p for p in self.module.parameters() if p.requires_grad]

    @property
    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.trainable())

    def log_prob(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        return self.log_prob_fn(x, c)

    def sample(self, n: int, c: Tensor | None = None) -> Tensor:
        return self.sample_fn(n, c)

    def train_step(self, x: Tensor, c: Tensor | None = None) -> float:
        loss = -self.log_prob_fn(x, c).mean()
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return loss.item()

    def fit(
        self,
        x: Tensor,
        c: Tensor | None,
        *,
        epochs: int,
        batch_size: int,
        seed: int,
        on_epoch: EpochCallback | None = None,
    ) -> None:
        """Shuffle every epoch and step through it in batches, like :func:`innlab.train_inn`."""
        self.module.train()
        generator = torch.Generator().manual_seed(seed)
        steps = 0
        for _ in range(epochs):
            order = torch.randperm(x.shape[0], generator=generator)
            for start in range(0, x.shape[0], batch_size):
                idx = order[start : start + batch_size]
                self.train_step(x[idx], None if c is None else c[idx])
                steps += 1
            if on_epoch is not None:
                on_epoch(steps)
        self.module.eval()


# --------------------------------------------------------------------------- innlab


@dataclass
class InnlabRunner(Runner):
    """innlab's :class:`RealNVP`; :meth:`fit` is :func:`innlab.train_inn` itself."""

    schedule: str | None = None

    def __post_init__(self) -> None:
        # train_step mirrors one step of train_inn, which builds its own fused Adam
        self.optimizer = torch.optim.Adam(self.trainable(), lr=LR, fused=True)

    @property
    def model(self) -> RealNVP:
        return cast("RealNVP", self.module)

    def train_step(self, x: Tensor, c: Tensor | None = None) -> float:
        from innlab import nll_loss

        loss = nll_loss(*self.model.encode_unchecked(x, c)).mean()
        loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return loss.item()

    def fit(self, x, c, *, epochs, batch_size, seed, on_epoch=None) -> None:
        from innlab import train_inn

        callback = None if on_epoch is None else (lambda history: on_epoch(history.steps[-1]))
        train_inn(
            self.model,
            x,
            c,
            epochs=epochs,
            lr=LR,
            batch_size=batch_size,
            schedule=self.schedule,
            seed=seed,
            progress=False,
            callback=callback,
        )


def build_innlab(
    arch: Arch, seed: int, *, shared_subnet: bool, schedule: str | None = None
) -> InnlabRunner:
    from innlab import RealNVP

    model = RealNVP(
        arch.dim, arch.hidden, arch.blocks, arch.cond, shared_subnet=shared_subnet, seed=seed
    )
    model.eval()

    def sample(n: int, c: Tensor | None) -> Tensor:
        if c is None:
            return model.sample(n)
        return model.sample(1, conditions=c).squeeze(1)  # one draw per condition row

    layout = ONE_SUBNET if shared_subnet else SEPARATE
    name = "innlab-shared" if shared_subnet else "innlab-separate"
    if schedule is not None:
        name += f"+{schedule}"
    return InnlabRunner(name, "innlab", layout, model, model.log_prob, sample, schedule=schedule)


# --------------------------------------------------------------------------- FrEIA


def build_freia(arch: Arch, seed: int) -> Runner:
    import FrEIA.framework as ff
    import FrEIA.modules as fm

    torch.manual_seed(seed)
    d = arch.dim
    inn = ff.SequenceINN(d)
    cond_kwargs = {"cond": 0, "cond_shape": (arch.cond,)} if arch.cond else {}
    for i in range(arch.blocks):
        if i:
            inn.append(fm.FixedLinearTransform, M=random_rotation(d))
        inn.append(
            fm.AffineCouplingOneSided,
            subnet_constructor=partial(_freia_subnet, hidden=arch.hidden),
            clamp=1.0,
            clamp_activation="TANH",  # s = 1.0 * tanh(s~): innlab's exp(tanh(s~)) exactly
            split_len=d // 2,
            **cond_kwargs,
        )
    inn.eval()

    def conditions(c: Tensor | None) -> list[Tensor] | None:
        return None if c is None else [c]

    def log_prob(x: Tensor, c: Tensor | None) -> Tensor:
        z, log_jac = inn(x, c=conditions(c))
        return standard_normal_log_prob(z) + log_jac

    def sample(n: int, c: Tensor | None) -> Tensor:
        x, _ = inn(torch.randn(n, d), c=conditions(c), rev=True, jac=False)
        return x

    deviations = [
        "FixedLinearTransform adds an offset (b = 0) and its constant log|det M| (0) to every "
        "sample, and keeps M, M^-1 and log|det M| as frozen nn.Parameters (not counted)",
    ]
    return Runner("FrEIA", "FrEIA", ONE_SUBNET, inn, log_prob, sample, deviations)


def _freia_subnet(n_in: int, n_out: int, *, hidden: int) -> nn.Module:
    return mlp(n_in, n_out, hidden)


# --------------------------------------------------------------------------- nflows


class _ContextMLP(nn.Module):
    """nflows calls ``transform_net(x, context)``; the condition is concatenated to ``x``."""

    def __init__(self, n_in: int, n_out: int, hidden: int) -> None:
        super().__init__()
        self.net = mlp(n_in, n_out, hidden)

    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        return self.net(x if context is None else torch.cat((x, context), dim=1))


def build_nflows(arch: Arch, seed: int) -> Runner:
    from nflows.distributions.normal import StandardNormal
    from nflows.flows.base import Flow
    from nflows.transforms.base import CompositeTransform
    from nflows.transforms.coupling import AffineCouplingTransform
    from nflows.transforms.permutations import RandomPermutation, ReversePermutation

    torch.manual_seed(seed)
    d = arch.dim
    mask = (torch.arange(d) >= d // 2).int()  # 1 = transformed: the second half, as in innlab
    layers = []
    for i in range(arch.blocks):
        if i:
            # a random permutation of two features is the identity half the time
            layers.append(ReversePermutation(d) if d == 2 else RandomPermutation(d))
        layers.append(
            AffineCouplingTransform(
                mask, lambda n_in, n_out: _ContextMLP(n_in + arch.cond, n_out, arch.hidden)
            )
        )
    flow = Flow(CompositeTransform(layers), StandardNormal([d]))
    flow.eval()

    def log_prob(x: Tensor, c: Tensor | None) -> Tensor:
        return flow.log_prob(x, context=c)

    def sample(n: int, c: Tensor | None) -> Tensor:
        if c is None:
            return flow.sample(n)
        return flow.sample(1, context=c).squeeze(1)

    deviations = [
        "scale = sigmoid(s~ + 2) + 1e-3 instead of exp(tanh(s~)): in the data-to-code "
        "direction a block can only shrink (scale <= 1.001), so data with a spread below the "
        "standard normal's (two moons) cannot be fitted; nflows 0.14 has no option for this "
        "(scale_activation came later, bayesiains/nflows#49); a new model is not the identity "
        "(scale 0.88 per block)",
        "fixed random permutation (RandomPermutation; ReversePermutation for d = 2) between "
        "blocks instead of a random rotation: nflows has no fixed rotation",
        "the subnetwork is a user-written nn.Sequential that concatenates the context, because "
        "nflows' MLP takes no context argument",
    ]
    return Runner("nflows", "nflows", ONE_SUBNET, flow, log_prob, sample, deviations)


# --------------------------------------------------------------------------- normflows


def build_normflows(arch: Arch, seed: int) -> Runner:
    import normflows as nf

    if arch.cond:
        raise Unsupported(
            "normflows' MaskedAffineFlow takes no context; its conditional flows "
            "(ConditionalNormalizingFlow) only work with autoregressive and spline layers"
        )
    torch.manual_seed(seed)
    d, h = arch.dim, arch.hidden
    keep = (torch.arange(d) < d // 2).float()  # 1 = passes unchanged: the first half
    flows = []
    for i in range(arch.blocks):
        if i:
            flows.append(nf.flows.Permute(d, mode="swap" if d == 2 else "shuffle"))
        s = nf.nets.MLP([d, h, h, d], init_zeros=True, output_fn="tanh")
        t = nf.nets.MLP([d, h, h, d], init_zeros=True)
        flows.append(nf.flows.MaskedAffineFlow(keep, t, s))
    # normflows' layers run from code to data; log_prob walks them backwards
    model = nf.NormalizingFlow(nf.distributions.DiagGaussian(d, trainable=False), flows[::-1])
    model.eval()

    def log_prob(x: Tensor, c: Tensor | None) -> Tensor:
        return model.log_prob(x)

    def sample(n: int, c: Tensor | None) -> Tensor:
        x, _ = model.sample(n)  # normflows also returns log q(x) of every sample
        return x

    deviations = [
        "masked layout: s and t networks take all d features (the kept half, the rest zeroed) "
        "and output d values, so their first and last layers are twice innlab's size",
        "fixed random permutation (Permute 'shuffle'; 'swap' for d = 2) between blocks instead "
        "of a random rotation: normflows has no fixed rotation",
        "MaskedAffineFlow replaces non-finite s and t by NaN (two torch.where per block)",
        "sample() also computes log q of every sample (the library's API has no cheaper call)",
        "no conditional variant: MaskedAffineFlow takes no context",
    ]
    return Runner("normflows", "normflows", SEPARATE, model, log_prob, sample, deviations)


# --------------------------------------------------------------------------- zuko


def build_zuko(arch: Arch, seed: int) -> Runner:
    import zuko
    from zuko.flows import GeneralCouplingTransform
    from zuko.lazy import Flow, UnconditionalDistribution, UnconditionalTransform
    from zuko.transforms import MonotonicAffineTransform, RotationTransform

    torch.manual_seed(seed)
    d = arch.dim
    # mask True = passes unchanged and feeds the subnet: the first half, as in innlab
    mask = torch.arange(d) < d // 2
    # slope e^-1 bounds the log-scale to (-1, 1) like tanh: log_scale = a / (1 + |a|)
    univariate = partial(MonotonicAffineTransform, slope=math.exp(-1))
    transforms = []
    for i in range(arch.blocks):
        if i:
            angles = torch.randn(d, d)  # R = matrix_exp(A - A^T), fixed (a buffer)
            transforms.append(UnconditionalTransform(RotationTransform, angles, buffer=True))
        coupling = GeneralCouplingTransform(
            d,
            arch.cond,
            mask=mask,
            univariate=univariate,
            hidden_features=(arch.hidden, arch.hidden),
            activation=nn.ReLU,
        )
        zero_init(coupling.hyper[-1])
        transforms.append(coupling)
    base = UnconditionalDistribution(
        zuko.distributions.DiagNormal, torch.zeros(d), torch.ones(d), buffer=True
    )
    flow = Flow(transforms, base)
    flow.eval()

    def log_prob(x: Tensor, c: Tensor | None) -> Tensor:
        return flow(c).log_prob(x)

    def sample(n: int, c: Tensor | None) -> Tensor:
        return flow().sample((n,)) if c is None else flow(c).sample()

    deviations = [
        "log-scale = a / (1 + |a|) (MonotonicAffineTransform with slope e^-1, a soft sign "
        "bounded by 1) instead of tanh(a)",
        "the rotation is RotationTransform: matrix_exp(A - A^T) of a fixed buffer A, recomputed "
        "on every call, and not Haar-distributed",
        "the subnetwork outputs (shift, scale) interleaved per feature instead of [s | t]",
    ]
    return Runner("zuko", "zuko", ONE_SUBNET, flow, log_prob, sample, deviations)


# --------------------------------------------------------------------------- plain PyTorch


class PlainRealNVP(nn.Module):
    """The reference: what one writes in plain PyTorch, one subnet per block."""

    rotations: Tensor

    def __init__(self, dim: int, hidden: int, blocks: int, cond: int = 0) -> None:
        super().__init__()
        self.dim, self.d1 = dim, dim // 2
        self.subnets = nn.ModuleList(
            mlp(self.d1 + cond, 2 * (dim - self.d1), hidden) for _ in range(blocks)
        )
        self.register_buffer(
            "rotations", torch.stack([random_rotation(dim) for _ in range(blocks - 1)])
        )

    def scale_shift(self, i: int, x1: Tensor, c: Tensor | None) -> tuple[Tensor, Tensor]:
        s, t = self.subnets[i](x1 if c is None else torch.cat((x1, c), dim=1)).chunk(2, dim=1)
        return torch.tanh(s), t

    def log_prob(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        log_det = x.new_zeros(x.shape[0])
        for i in range(len(self.subnets)):
            if i:
                x = x @ self.rotations[i - 1].T
            x1, x2 = x[:, : self.d1], x[:, self.d1 :]
            s, t = self.scale_shift(i, x1, c)
            x = torch.cat((x1, x2 * torch.exp(s) + t), dim=1)
            log_det = log_det + s.sum(dim=1)
        return standard_normal_log_prob(x) + log_det

    def sample(self, n: int, c: Tensor | None = None) -> Tensor:
        z = torch.randn(n, self.dim)
        for i in reversed(range(len(self.subnets))):
            z1, z2 = z[:, : self.d1], z[:, self.d1 :]
            s, t = self.scale_shift(i, z1, c)
            z = torch.cat((z1, (z2 - t) * torch.exp(-s)), dim=1)
            if i:
                z = z @ self.rotations[i - 1]
        return z


def build_plain(arch: Arch, seed: int) -> Runner:
    torch.manual_seed(seed)
    model = PlainRealNVP(arch.dim, arch.hidden, arch.blocks, arch.cond)
    model.eval()

    def sample(n: int, c: Tensor | None) -> Tensor:
        with torch.no_grad():
            return model.sample(n, c)

    return Runner("plain-torch", "torch", ONE_SUBNET, model, model.log_prob, sample)


BUILDERS: dict[str, Callable[[Arch, int], Runner]] = {
    "innlab-shared": partial(build_innlab, shared_subnet=True),
    "innlab-separate": partial(build_innlab, shared_subnet=False),
    "FrEIA": build_freia,
    "nflows": build_nflows,
    "normflows": build_normflows,
    "zuko": build_zuko,
    "plain-torch": build_plain,
}
"""Every model of the benchmark by name, innlab first."""

ONE_SUBNET_PEERS = ("FrEIA", "nflows", "zuko")
SEPARATE_PEERS = ("normflows",)
PEERS = ONE_SUBNET_PEERS + SEPARATE_PEERS
