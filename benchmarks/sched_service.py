"""The scheduler step's service: nova-scheduler's shape, in 2 forked workers on one variant.

Usage: python benchmarks/sched_service.py VARIANT CONFIG_FILE TOPIC CELLS_DIR
  VARIANT: ours | oslo-threading | oslo-eventlet

The same code on every variant; only the backend under it changes (``_api``). Each
piece is created the way nova-scheduler and oslo.messaging create it, not with this
package's helpers, so that what reaches them (a fix in our layer, or none) is what
reaches an unmodified OpenStack service:

- the transport is made in the master before the fork (nova's ``rpc.init(CONF)``),
  and so are the cells' database contexts, read once (nova's manager imports
  ``nova.db`` and its host manager reads the cells before the fork: the real
  scheduler's workers import no module after it, where this step's imported
  SQLAlchemy and oslo.db in each worker until 2026-12-07's fourth session);
  ``start()`` makes ``oslo_messaging.get_rpc_server()`` with its default executor,
  ``'threading'`` (futurist's ``ThreadPoolExecutor`` of ``executor_thread_pool_size``
  = 64), or ``'eventlet'`` on the eventlet backend, as nova picks it;
- the cell pool is a futurist ``ThreadPoolExecutor(max_workers=40)`` made lazily in
  the worker (nova's ``cell_worker_thread_pool_size``, the field's 40), a
  ``GreenThreadPoolExecutor`` on the eventlet backend, used as nova's
  ``scatter_gather_cells``;
- ``select_destinations`` does what nova's does, minus the HTTP to Placement: a
  scatter-gather of the minimum compute version over the 3 cells, the allocation
  candidates decoded from JSON, a scatter-gather of the host states of the 2 compute
  cells (each task a session on that cell's sqlite file through oslo.db: a
  connection opened and closed on the pool thread that runs it), filters, weighers,
  the selection and its alternates back to the caller.

Each worker reports "serving" (a JSON line on the fd named by BENCH_REPORT_FD) once
its server consumes. Only ``sys`` and ``_api`` are imported before the variant is
selected: the eventlet variant monkey-patches first.
"""

import sys

import _api

WORKERS = 2
CELL_POOL_SIZE = 40  # nova's cell_worker_thread_pool_size in the field (its cpu*5 default)
GATHER_TIMEOUT = 60.0  # nova's CELL_TIMEOUT
CANDIDATES = 40  # allocation candidates Placement returns (every compute of both cells)


def report(event, **fields):
    import json
    import os
    import time

    fd = int(os.environ.get("BENCH_REPORT_FD", "-1"))
    if fd >= 0:
        fields.update(event=event, pid=os.getpid(), t=time.monotonic())
        os.write(fd, (json.dumps(fields) + "\n").encode())


def _candidates_json():
    """What GET /allocation_candidates answers for a 1-vCPU, 512 MB, 1 GB flavor."""
    import json

    requests, summaries = [], {}
    for n in range(CANDIDATES):
        rp = f"{n:08d}-0000-4000-8000-00000000a11c"
        requests.append(
            {
                "allocations": {rp: {"resources": {"VCPU": 1, "MEMORY_MB": 512, "DISK_GB": 1}}},
                "mappings": {"": [rp]},
            }
        )
        summaries[rp] = {
            "resources": {
                "VCPU": {"capacity": 256, "used": n % 64},
                "MEMORY_MB": {"capacity": 262144, "used": 512 * n},
                "DISK_GB": {"capacity": 2000, "used": n},
            },
            "traits": ["COMPUTE_NET_VIF_MODEL_VIRTIO", "HW_CPU_X86_AVX2", "COMPUTE_STATUS_OK"],
            "parent_provider_uuid": None,
            "root_provider_uuid": rp,
        }
    return json.dumps({"allocation_requests": requests, "provider_summaries": summaries})


class SchedulerEndpoint:
    """nova.scheduler.manager.SchedulerManager.select_destinations, in outline."""

    def __init__(self, cells, scatter_gather):
        import sched_cells

        self._cells = cells
        self._scatter_gather = scatter_gather
        self._all_cells = sched_cells.CELLS
        self._compute_cells = sched_cells.COMPUTE_CELLS
        self._candidates = _candidates_json()

    def select_destinations(self, ctxt, spec, instance_uuids, return_alternates=True):
        import json

        # Request filters: owner_nova_filter's minimum compute version, every cell.
        versions = self._scatter_gather(self._all_cells, self._cells.min_compute_version)
        if not any(isinstance(v, int) and v > 0 for v in versions.values()):
            raise RuntimeError(f"no compute version: {versions!r}")
        # Placement's answer, decoded as the report client does.
        candidates = json.loads(self._candidates)
        summaries = candidates["provider_summaries"]
        # get_host_states_by_uuids: ServiceList + ComputeNodeList of each compute cell.
        results = self._scatter_gather(self._compute_cells, self._cells.host_states)
        hosts = []
        for cell, states in results.items():
            if isinstance(states, BaseException):
                raise states
            if isinstance(states, list):
                hosts.extend(dict(state, cell=cell) for state in states)
        flavor = spec["flavor"]
        # Filters (ComputeFilter, ComputeCapabilitiesFilter, ImagePropertiesFilter, ...).
        passing = [
            h
            for h in hosts
            if not h["service"]["disabled"]
            and h["free_ram_mb"] >= flavor["memory_mb"]
            and h["vcpus_used"] < h["vcpus"] * h["cpu_allocation_ratio"]
            and any(arch == spec["image"]["arch"] for arch, *_ in h["supported_instances"])
            and len(h["numa_topology"]["nova_object.data"]["cells"]) > 0
        ]
        # Weighers (RAM, CPU, disk), normalized as nova's weights are.
        top_ram = max((h["free_ram_mb"] for h in passing), default=1) or 1
        weighed = sorted(
            passing,
            key=lambda h: h["free_ram_mb"] / top_ram - h["vcpus_used"] / h["vcpus"],
            reverse=True,
        )
        requests = candidates["allocation_requests"]
        selections = []
        for n, uuid in enumerate(instance_uuids):
            chosen = weighed[n : n + (3 if return_alternates else 1)]
            selections.append(
                [
                    {
                        "instance_uuid": uuid,
                        "service_host": h["host"],
                        "nodename": h["host"],
                        "cell_uuid": h["cell"],
                        "limits": {"memory_mb": h["free_ram_mb"]},
                        "allocation_request": json.dumps(requests[k % len(requests)]),
                        "summary": len(summaries),
                    }
                    for k, h in enumerate(chosen)
                ]
            )
        return selections


def _service(base, conf, topic, cells_dir):
    import futurist
    import oslo_messaging

    # In the master, as nova-scheduler's does before the fork: its manager imports
    # nova.db (SQLAlchemy, oslo.db) and its host manager reads the cells' databases,
    # so the real scheduler's workers import nothing after the fork (measured).
    import sched_cells

    cells = sched_cells.Cells(cells_dir)
    cells.min_compute_version(sched_cells.COMPUTE_CELLS[0])

    # nova's rpc.init(CONF): one transport, made in the master, used by every worker.
    transport = oslo_messaging.get_rpc_transport(conf)
    executor = "eventlet" if _api.green else "threading"

    class SchedulerService(base):
        """nova.service.Service's RPC part (manager: the endpoint above)."""

        def __init__(self):
            super().__init__()
            self.server = None

        def start(self):
            pool_class = futurist.ThreadPoolExecutor
            if _api.green:
                pool_class = futurist.GreenThreadPoolExecutor
            scatter_gather = _api.NovaStyleScatterGather(pool_class, CELL_POOL_SIZE)
            target = oslo_messaging.Target(topic=topic, server="bench")
            endpoint = SchedulerEndpoint(cells, scatter_gather)
            self.server = oslo_messaging.get_rpc_server(
                transport, target, [endpoint], executor=executor
            )
            self.server.start()
            report("serving")

        def stop(self, graceful=False):
            if self.server is not None:
                self.server.stop()
                self.server.wait()
            super().stop(graceful)

    return SchedulerService()


def main(argv):
    if len(argv) != 5:
        print(__doc__, file=sys.stderr)
        return 2
    variant, config_file, topic, cells_dir = argv[1:]
    _api.select(variant)
    from oslo_config import cfg
    from oslo_log import log

    # cfg.CONF and oslo.log at INFO, as nova-scheduler.
    conf = cfg.CONF
    log.register_options(conf)
    conf(args=["--config-file", config_file], project="bench", default_config_dirs=[])
    log.setup(conf, "bench")
    svc = _service(_api.service.Service, conf, topic, cells_dir)
    launcher = _api.service.ProcessLauncher(conf)
    launcher.launch_service(svc, workers=WORKERS)
    # Which backend answered: under oslo-threading-exec, oslo.service's names are ours.
    module = sys.modules[type(launcher).__module__]
    report(
        "launching",
        launcher=f"{module.__name__}.{type(launcher).__name__}",
        launcher_file=module.__file__,
    )
    return launcher.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
