"""minrnn: character-level recurrent language models, from scratch in NumPy."""
# train and load are the API's (api.py); the training loop stays minrnn.train's module,
# sys.modules["minrnn.train"], whose name the function now holds here
from .api import load, train
from .config import Config
from .errors import MinrnnError
from .model import CharRNN, ModelConfig
from .notebook import DivergenceWarning, VanillaRNN
from .sample import generate

__version__ = "0.1.0"
__all__ = ["CharRNN", "Config", "DivergenceWarning", "MinrnnError", "ModelConfig", "VanillaRNN", "generate",
           "load", "train", "__version__"]
