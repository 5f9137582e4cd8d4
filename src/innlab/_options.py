"""Names of the model options, kept free of torch so that configs parse without loading it."""

SCALES = ("exp_tanh", "exp", "additive")
"""The ``scale`` options of :class:`~innlab.flows.AffineCoupling`: ``exp(tanh(s))``, ``exp(s)``
or no scale (additive, NICE)."""

MIXINGS = ("rotation", "permutation", "none")
"""The ``mixing`` options of :class:`~innlab.RealNVP`: a fixed random rotation, a fixed random
permutation, or nothing between the couplings."""
