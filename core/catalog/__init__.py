"""The meme catalog: the folder format a person edits (catalog.py), the content-hash disk cache for work done
once per catalog (cache.py), and the catalog made ready to serve: embeddings and meme faces (prepare.py)."""
