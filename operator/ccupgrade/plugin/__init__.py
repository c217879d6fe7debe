"""`kubectl ccupgrade`: a kubectl plugin that shows CceClusterUpgrade objects in the terminal.

A layer of its own above the models: it reads objects and Events through the Kubernetes client
and renders them with rich; it shares nothing with the operator but the models.
"""
