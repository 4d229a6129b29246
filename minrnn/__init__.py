"""minrnn: character-level recurrent language models, from scratch in NumPy."""
from .data import MinrnnError
from .model import CharRNN
from .notebook import DivergenceWarning, VanillaRNN

__version__ = "0.1.0"
__all__ = ["CharRNN", "DivergenceWarning", "MinrnnError", "VanillaRNN", "__version__"]
