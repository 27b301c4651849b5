"""RPC fault injection: a loopback fault proxy and fault schedules (used by `rtrm chaos` and tests/faults)."""
