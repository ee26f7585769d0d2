"""The running bot's core: the service every adapter calls (service.py), its storage (store.py) and result
images served by URL (media.py). The jobs it sends to its workers are in core/compute."""
