"""The seam between the bot and its workers: typed job requests and answers (contract.py), the one client that
calls a pool (client.py), the pools (local.py in this machine's processes, redis/ on a queue) and the runtime that
runs the jobs in a worker process (runtime.py)."""
