"""Operations: health endpoints, Prometheus metrics, request ids and JSON log lines."""
