"""Language models the product reads text with: a dependency parse and static embeddings.

Both ship inside PyPI packages (nothing is fetched at run time, no torch), are loaded lazily
once per process, and are shared by every part that reads text: the extractor parses the
user's words (``parse``), relevance and belief merging compare meanings (``embed``).
"""

from selfmodel.language.embed import DIM, embed, embed_one
from selfmodel.language.parse import add_entities, parse, parse_ahead, parse_many

__all__ = ["DIM", "add_entities", "embed", "embed_one", "parse", "parse_ahead", "parse_many"]
