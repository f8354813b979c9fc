"""esper-runner-ray: play ``esper train``'s host-training episodes in Ray actors.

The plugin (``esper.runners.ray``) registers the runner ``ray``. Each environment lives in an
actor of its own (a host training run and its governor); the controller and the PPO learner
stay in the driver, so no weights travel. See ``docs/ray.md`` in the esper repository.
"""

__version__ = "0.1.0"
