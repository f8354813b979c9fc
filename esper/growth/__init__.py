"""The growing model: a host with named slots, the seeds that grow in them, and their measures.

`host` (the host protocol and its injection points), `seed_module` (how a seed meets the host's
features: incubator and blends), `model` (`MorphogeneticModel` and its lifecycle operations),
with the model's other parts: `slots` (what the model keeps per slot), `seeding` (building a
seed's module), `accounting` (parameters and gradient health), `counterfactual` (fused
evaluation of alpha configurations), `optimizers` (the seeds' param groups) and `persistence`
(the saved grown state); `catalog` (the blueprints a host can grow), `gradient_health` and
`attribution` (Shapley values of seeds). The lifecycle's state machine itself is
`esper.lifecycle` (plain Python, below this layer).
"""
