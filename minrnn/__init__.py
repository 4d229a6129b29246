"""minrnn: character-level recurrent language models, from scratch in NumPy."""
from .api import Run, load, plot, train
from .config import Config
from .errors import MinrnnError
from .model import CharRNN, ModelConfig
from .notebook import DivergenceWarning, VanillaRNN
from .sample import generate

__version__ = "0.1.0"
__all__ = ["CharRNN", "Config", "DivergenceWarning", "MinrnnError", "ModelConfig", "Run", "VanillaRNN", "generate",
           "load", "plot", "train", "__version__"]
