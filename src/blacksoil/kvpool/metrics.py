"""Prometheus metrics of the KV pool, read from the tiers at scrape time (nothing on the hot path)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from blacksoil.kvpool.errors import KVPoolError
from blacksoil.kvpool.pool import KVPool

_COUNTERS = {
    "lookups": "Block reads asked of the tier",
    "hits": "Block reads the tier answered",
    "puts": "Blocks written to the tier",
    "evictions": "Blocks the tier dropped to make room",
    "corrupt": "Blocks that failed their checksum and were dropped",
    "bytes_read": "Payload bytes read from the tier",
    "bytes_written": "Bytes written to the tier",
}


class PoolCollector(Collector):
    def __init__(self, pool: KVPool) -> None:
        self.pool = pool

    def collect(self) -> Iterator[Metric]:
        capacity = GaugeMetricFamily("blacksoil_kvpool_capacity_bytes", "Configured capacity", labels=["tier"])
        used = GaugeMetricFamily("blacksoil_kvpool_used_bytes", "Bytes held", labels=["tier"])
        blocks = GaugeMetricFamily("blacksoil_kvpool_blocks", "Entries held", labels=["tier"])
        counters = {
            name: CounterMetricFamily(f"blacksoil_kvpool_{name}", help_text, labels=["tier"])
            for name, help_text in _COUNTERS.items()
        }
        for tier in self.pool.tiers:
            capacity.add_metric([tier.name], tier.capacity_bytes)
            try:
                used.add_metric([tier.name], tier.used_bytes)
                blocks.add_metric([tier.name], tier.blocks)
            except KVPoolError:
                pass  # a remote tier that cannot be reached: its other figures still count
            stats = tier.stats
            for name, family in counters.items():
                family.add_metric([tier.name], getattr(stats, name))
        yield capacity
        yield used
        yield blocks
        yield from counters.values()
