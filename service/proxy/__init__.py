"""Forwarding (issue 14): every ``/v1`` route semsearch does not serve itself goes to the upstream,
so one OpenAI ``base_url`` serves embeddings (cached here) and chat, completions, responses...
(generated upstream). ``Forwarder`` sends and answers; ``relay`` streams; ``headers`` decides
what crosses; ``usage`` reads what the metrics count."""

from service.proxy.forwarder import Forwarder, open_client, route_label

__all__ = ["Forwarder", "open_client", "route_label"]
