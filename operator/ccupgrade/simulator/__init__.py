"""A CCE API simulator: the documented upgrade-workflow API with real auth, scenarios and faults."""
