from marketdata.kafka.clients import consumer_options, producer_options


def test_producers_are_idempotent_with_acks_all_by_design() -> None:
    options = producer_options(None)
    assert options["enable_idempotence"] is True
    assert options["acks"] == "all"
    assert options["compression_type"] is None


def test_group_less_consumer_reads_committed_data_from_the_beginning() -> None:
    options = consumer_options("127.0.0.1:1", group_id=None, client_id="t", from_beginning=True)
    assert options["group_id"] is None
    assert options["auto_offset_reset"] == "earliest"
    assert options["enable_auto_commit"] is False
    assert options["isolation_level"] == "read_committed"
