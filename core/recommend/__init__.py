"""From a sentence to the memes that fit it: sentence embedders (embedders.py, load.py), colloquial Korean
normalisation (textnorm.py), the situation bank (situations.py), ranking (recommender.py) and learning from
use (feedback.py). Nothing here knows faces, storage or chat platforms."""
