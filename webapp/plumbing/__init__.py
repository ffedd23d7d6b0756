"""Process-wide plumbing with no web request: Redis and RQ, logs, metrics, heartbeats, AMQP, signatures."""
