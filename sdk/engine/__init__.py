"""The cloaking engine, with its styles, presets and target choice.

What computes (Φ, Ω, the budget, the optimiser, the evaluation) needs the ``engine`` extra (torch,
lpips, diffusers); importing one of those modules without it raises
:class:`~stylecloak.errors.MissingExtraError`. The style catalogue (:mod:`~stylecloak.engine.styles`),
the presets (:mod:`~stylecloak.engine.presets`) and the target store and rule
(:mod:`~stylecloak.engine.targets`) need only numpy and Pillow, so options can be validated and styles
listed where torch is absent. Nothing in here imports a web framework, Ray or boto3.
"""
