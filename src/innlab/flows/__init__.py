"""The flow model: the transform contract, transforms, base distributions and RealNVP.

* :class:`Transform`: an invertible map with its log-det, in both directions (the contract);
* :class:`AffineCoupling`, :class:`FixedRotation`, :class:`FixedPermutation`: the transforms;
* :class:`StandardNormal`: the base distribution;
* :class:`Flow`: transforms over a base, with checked ``encode``/``decode``/``log_prob``/
  ``sample``, ``sample_and_log_prob`` and a ``torch.distributions`` view;
* :class:`RealNVP`: a :class:`Flow` of couplings with mixing layers in between.
"""

from innlab._options import MIXINGS, SCALES
from innlab.flows.base import Flow, Transform
from innlab.flows.coupling import AffineCoupling
from innlab.flows.distributions import StandardNormal, standard_normal_log_prob
from innlab.flows.mixing import FixedPermutation, FixedRotation, random_orthogonal
from innlab.flows.realnvp import RealNVP
from innlab.flows.view import FlowDistribution

__all__ = [
    "MIXINGS",
    "SCALES",
    "AffineCoupling",
    "FixedPermutation",
    "FixedRotation",
    "Flow",
    "FlowDistribution",
    "RealNVP",
    "StandardNormal",
    "Transform",
    "random_orthogonal",
    "standard_normal_log_prob",
]
