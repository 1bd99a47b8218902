"""hoist: container images from a working tree onto Kubernetes nodes, with exact, visible
control of image pull policy."""

__version__ = "0.1.0"
