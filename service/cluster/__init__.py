"""semsearch on a Ray cluster (issue 17): sharded collections and bulk ingest on Ray Data.

An optional extra (``pip install "semsearch[ray]"``). Only this package imports Ray, and only
when a server runs with ``--ray`` or ``semsearch ingest --ray`` runs: the rest of the service
reaches it through imports inside functions, as httpx reaches ``h2`` only when asked.

- ``runtime.py``: connecting to Ray (or starting a local one on 127.0.0.1 with token auth),
  creating shard actors pinned to their node, calling them (errors mapped to the service's).
- ``shard.py``: the shard actor, an ordinary ``index.Store`` on its node's disk.
- ``registry.py``: which collections are sharded, and where each shard lives.
- ``service.py``: the search API over sharded collections (the front door's merges are
  ``index.ShardedReader``).
- ``ingest.py``: ``semsearch ingest --ray``.
"""
