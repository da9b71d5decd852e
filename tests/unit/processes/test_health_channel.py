import multiprocessing
import os

from oslo_threading_backend._processes import health_channel


def _channel():
    return health_channel.HealthChannel(multiprocessing.get_context("fork"))


def test_records_from_a_forked_worker_reach_the_master():
    channel = _channel()
    ctx = multiprocessing.get_context("fork")

    def worker():
        assert channel.beat(3)
        assert channel.report(health_channel.STARTED, 3)
        assert channel.report(health_channel.BOOT_FAILED, 3, "ValueError: é" + "x" * 5000)

    process = ctx.Process(target=worker)
    process.start()
    process.join(10)
    assert process.exitcode == 0
    records = []
    while len(records) < 3:
        got = channel.receive(5)
        assert got
        records.extend(got)
    kinds = [(r.kind, r.pid, r.worker_id) for r in records]
    assert kinds == [
        (health_channel.BEAT, process.pid, 3),
        (health_channel.STARTED, process.pid, 3),
        (health_channel.BOOT_FAILED, process.pid, 3),
    ]
    # The cause is cut to stay one atomic write.
    assert records[2].text.startswith("ValueError: é")
    assert len(records[2].text.encode()) <= health_channel.MAX_TEXT
    assert channel.receive(0) == []


def test_a_full_pipe_drops_heartbeats_instead_of_blocking():
    channel = _channel()
    beats = 0
    while channel.beat(0):
        beats += 1
        assert beats < 1_000_000
    assert beats > 100
    # The master reads them all (whole records only).
    received = 0
    while got := channel.receive(0):
        received += len(got)
    assert received == beats


def test_a_record_split_across_reads_is_kept_for_the_next():
    data = health_channel.encode(health_channel.BOOT_FAILED, 1, 2, "cause")
    records, rest = health_channel._decode(data[:-2])
    assert records == [] and rest == data[:-2]
    records, rest = health_channel._decode(rest + data[-2:])
    assert records == [health_channel.Record(health_channel.BOOT_FAILED, 1, 2, "cause")]
    assert rest == b""


def test_the_shutdown_flag_is_shared_with_forked_workers():
    channel = _channel()
    ctx = multiprocessing.get_context("fork")
    assert not channel.shutdown_begun()
    channel.begin_shutdown()
    process = ctx.Process(target=lambda: os._exit(0 if channel.shutdown_begun() else 1))
    process.start()
    process.join(10)
    assert process.exitcode == 0
