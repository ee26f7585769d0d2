"""The running bot's core: the service every adapter calls (service.py), its storage (store.py), the worker
pool in front of CPU-heavy jobs (pool.py) and the jobs themselves (worker.py), and result images served by URL
(media.py)."""
