"""The ``semsearch bench`` harness (issue 6): retrieval quality, ANN speed/recall, service load.

Modules: ``datasets`` (BEIR loader), ``metrics`` (nDCG/recall/MRR), ``lexical`` (BM25),
``client`` and ``server`` (the service under test), ``quality``, ``ann``, ``load``, ``cache``
(the measurements), ``report`` and ``schemas`` (outputs), ``cli`` (``semsearch bench``'s
parser, an entry point of the ``semsearch.commands`` group) and ``commands`` (what it runs).
"""
