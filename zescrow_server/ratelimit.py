"""A per-client token bucket, per server process: a first filter before costly work.

Not the quota: the upload limit per address is counted in the database,
by every process and node together, when an upload is committed
(quotas/service.py). This bucket only keeps a flood from reaching work
that comes before the commit — the 2012 path decrypts each deposit first
— at no more than the same rate per process. Client addresses are kept
only as keys of this in-memory table.
"""

import threading
import time


class RateLimiter:
    def __init__(self, per_minute, burst=None):
        self.rate = per_minute / 60.0
        self.burst = burst or max(1, per_minute // 4)
        self.buckets = {}
        self.lock = threading.Lock()

    def retry_after(self, client):
        """0 when the request may go ahead; otherwise seconds to wait."""
        if self.rate <= 0:
            return 0
        now = time.monotonic()
        with self.lock:
            tokens, last = self.buckets.get(client, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1:
                self.buckets[client] = (tokens - 1, now)
                if len(self.buckets) > 100_000:  # bound the memory: forget the oldest
                    self.buckets.pop(next(iter(self.buckets)))
                return 0
            self.buckets[client] = (tokens, now)
            return max(1, int((1 - tokens) / self.rate + 0.999))
