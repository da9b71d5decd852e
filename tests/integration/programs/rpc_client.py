"""RPC clients in a process of their own: a stream of calls with ids, one line per outcome.

``--clients N`` threads each call ``echo`` in a loop, one call at a time, until
the stop file exists, ``--calls`` calls were made or ``--max-seconds`` passed.
Lines appended to ``--results``: ``sent id=..``, then ``ok id=.. pid=.. tag=..`` or
``error id=.. error=<exception class>``; ``done`` once every thread ended.
"""

import argparse
import os
import threading
import time
import traceback

from oslo_config import cfg
from oslo_service import backend

# As nova does on native threads, before oslo.messaging imports oslo_service.service.
backend.init_backend(backend.BackendType.THREADING)

import oslo_messaging  # noqa: E402


def emit(path, name, **fields):
    line = " ".join([name] + [f"{k}={v}" for k, v in fields.items()])
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--results", required=True)
    parser.add_argument("--stop-file", required=True)
    parser.add_argument("--prefix", default="c")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--calls", type=int, default=0, help="per client; 0: no limit")
    parser.add_argument("--seconds", type=float, default=0.0, help="each call's work")
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--max-seconds", type=float, default=60.0)
    args = parser.parse_args()

    # oslo.messaging 18.3's tracing registers its options on cfg.CONF only.
    conf = cfg.CONF
    conf([], project="rpc_client")
    transport = oslo_messaging.get_rpc_transport(conf, url=args.url)
    conf.set_override("rabbit_retry_interval", 1, group="oslo_messaging_rabbit")
    conf.set_override("rabbit_interval_max", 2, group="oslo_messaging_rabbit")
    target = oslo_messaging.Target(topic=args.topic)
    client = oslo_messaging.get_rpc_client(transport, target, timeout=args.timeout)
    deadline = time.monotonic() + args.max_seconds

    def stream(number):
        count = 0
        while not os.path.exists(args.stop_file) and time.monotonic() < deadline:
            if args.calls and count >= args.calls:
                return
            call_id = f"{args.prefix}{number}-{count}"
            count += 1
            emit(args.results, "sent", id=call_id)
            try:
                reply = client.call({}, "echo", call_id=call_id, seconds=args.seconds)
            except Exception as exc:
                if not isinstance(exc, oslo_messaging.MessagingException):
                    traceback.print_exc()
                emit(args.results, "error", id=call_id, error=type(exc).__name__)
            else:
                emit(args.results, "ok", id=reply["id"], pid=reply["pid"], tag=reply["tag"])

    threads = [threading.Thread(target=stream, args=(n,)) for n in range(args.clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    emit(args.results, "done")
    transport.cleanup()


if __name__ == "__main__":
    main()
