"""The flow model: coupling blocks, rotations and RealNVP."""

from innlab.flows.coupling import AffineCoupling
from innlab.flows.realnvp import RealNVP
from innlab.flows.rotation import random_orthogonal

__all__ = ["AffineCoupling", "RealNVP", "random_orthogonal"]
