"""Dataset synthesis, validation, statistics and import (``tooltune data``)."""
