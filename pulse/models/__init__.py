"""Models of the pulse app, one module per subdomain."""

from pulse.models.esims import KnownEsim

__all__ = ["KnownEsim"]
