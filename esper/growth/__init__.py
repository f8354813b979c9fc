"""The growing model: a host with named slots, the seeds that grow in them, and their measures.

`host` (the host protocol and its injection points), `seed_module` (how a seed meets the host's
features: incubator and blends), `model` (`MorphogeneticModel`: lifecycle operations, fused
counterfactual evaluation, persistence), `catalog` (the blueprints a host can grow),
`gradient_health` and `attribution` (Shapley values of seeds). The lifecycle's state machine
itself is `esper.lifecycle` (plain Python, below this layer).
"""
