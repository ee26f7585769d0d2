"""The running bot's core: the chat layer every adapter calls (chat.py: the conversation and the studio, and the
types that cross), the service behind it (service.py), its storage (store.py) and result images served by URL
(media.py). The jobs it sends to its workers are in core/compute."""
