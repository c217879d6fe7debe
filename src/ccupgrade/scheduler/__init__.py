"""When to poll which cluster, shared across the objects that name it, and what to do with the answer."""
