"""Kafka plumbing shared by every part: local broker, broker resolution, topics, clients."""
