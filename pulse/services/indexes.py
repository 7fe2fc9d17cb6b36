"""Provider-side indexes rebuilt off-request, so no customer's check pays for a full account walk.

eSIMCard has no lookup by ICCID: its client keeps an ICCID -> eSIM UUID index in the shared cache,
built by paging the whole account. The scheduled `esim_index` job (Celery beat) rebuilds it before it
expires, so a large account never costs a request its first page walk.

Minimal version for the Celery work (issue 12); the index itself belongs to the eSIMCard client.
"""

from __future__ import annotations

import logging

from providers.base import ESIMCARD
from pulse.services.providers import provider_client

logger = logging.getLogger(__name__)


def rebuild_provider_indexes() -> dict[str, int]:
    """Rebuild every enabled provider's index now; provider name -> eSIMs indexed.

    Raises the provider's error when a rebuild fails (the job records it and the old index stays).
    """
    client = provider_client(ESIMCARD)
    if client is None:
        return {}
    # GuardedClient forwards to the eSIMCard client: the same code path a lookup uses on a miss.
    index = client.breaker.call(client.client._build_index)
    return {ESIMCARD: len(index["sims"])}
