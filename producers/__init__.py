"""Exchange adapters: connect, subscribe, validate and publish normalized events to Kafka."""
