"""greenknobs: the energy-cheapest way to build a model that is still good."""

from greenknobs._errors import GreenknobsError

__version__ = "0.1.0"
__all__ = ["GreenknobsError", "__version__"]
