"""minrnn: character-level recurrent language models, from scratch in NumPy."""
from .errors import MinrnnError
from .model import CharRNN
from .notebook import DivergenceWarning, VanillaRNN
from .sample import generate
from .train import Config, train

__version__ = "0.1.0"
__all__ = ["CharRNN", "Config", "DivergenceWarning", "MinrnnError", "VanillaRNN", "generate", "train",
           "__version__"]
