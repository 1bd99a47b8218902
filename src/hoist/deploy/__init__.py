"""Deploy targets: the embedded cluster and its defaults, real clusters, status checks.

No eager imports: each target is its own module (``hoist.deploy.embedded``, ...)."""
