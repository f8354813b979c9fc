"""Learning a controller: the factored action space, observations, masked distributions,
rollout storage and reward/value normalisers. Built on the contracts and the growth layer;
knows nothing of how environments are stepped (`esper.engine`)."""
