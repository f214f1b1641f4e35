"""Model weights: the registry of named models, finding and verifying their files, and pulling them.

Nothing here imports torch; the torch modules live in :mod:`stylecloak.models.taesd` and
:mod:`stylecloak.models.extractors`, and where they compute in :mod:`stylecloak.models.device`.
The engine imports these; nothing here imports the engine.
"""
