"""The read model: table topics in memory, fed from Kafka."""
