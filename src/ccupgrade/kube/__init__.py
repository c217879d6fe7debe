"""Kubernetes I/O: the API transport, status and Event writes, Secrets, merge patches, the Lease."""
