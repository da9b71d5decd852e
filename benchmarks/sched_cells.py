"""The scheduler step's cell databases: sqlite files opened through oslo.db, as nova does.

nova keeps one database per cell and reaches each through its own
``oslo_db.sqlalchemy.enginefacade`` transaction context; for a sqlite file oslo.db
uses SQLAlchemy's NullPool, so every ``reader.using(context)`` opens a connection
(sqlite3_open, schema parse: ~0.2 MB of small C mallocs) on whichever thread runs
the task, and closes it at the end. Those are the allocations that fill glibc's
per-thread caches and arenas on a threaded worker's pool threads (see
doc/source/benchmarks.rst, "The scheduler step").

``create(directory)`` writes the files once per benchmark run (in the harness);
``Cells(directory)`` is built in each worker, after the fork, as nova builds its
cell contexts on first use. The tables are cut-down copies of nova's ``services``
and ``compute_nodes``, with their large JSON text columns (cpu_info,
numa_topology, stats, supported_instances), 20 computes per cell as in the field.
"""

import json
import os

CELLS = ("cell0", "cell1", "cell2")  # cell0 holds no computes, as in nova
COMPUTE_CELLS = ("cell1", "cell2")
NODES_PER_CELL = 20
COMPUTE_VERSION = 66
# The rest of a nova cell database's schema, which sqlite parses on every new
# connection (nova's cell schema has ~110 tables and their shadow_ copies): with
# these a connection's first query costs ~0.2 MB of small mallocs, as in the field.
OTHER_TABLES = (
    "instances", "instance_extra", "instance_info_caches", "instance_metadata",
    "instance_system_metadata", "instance_faults", "instance_actions",
    "instance_actions_events", "instance_id_mappings", "instance_group_member",
    "block_device_mapping", "migrations", "virtual_interfaces", "pci_devices",
    "aggregates", "aggregate_hosts", "aggregate_metadata", "security_groups",
    "security_group_instance_association", "key_pairs", "quotas", "quota_usages",
    "reservations", "console_auth_tokens", "task_log", "tags", "volume_usage_cache",
    "bw_usage_cache", "s3_images", "snapshot_id_mappings",
)  # fmt: skip


def _models():
    from sqlalchemy import Boolean
    from sqlalchemy import Column
    from sqlalchemy import Float
    from sqlalchemy import Integer
    from sqlalchemy import String
    from sqlalchemy import Text
    from sqlalchemy.orm import declarative_base

    base = declarative_base()

    class Service(base):
        __tablename__ = "services"
        id = Column(Integer, primary_key=True)
        uuid = Column(String(36))
        host = Column(String(255))
        binary = Column(String(255))
        topic = Column(String(255))
        report_count = Column(Integer, default=0)
        disabled = Column(Boolean, default=False)
        disabled_reason = Column(String(255))
        forced_down = Column(Boolean, default=False)
        version = Column(Integer, default=0)
        updated_at = Column(Float)

    class ComputeNode(base):
        __tablename__ = "compute_nodes"
        id = Column(Integer, primary_key=True)
        uuid = Column(String(36))
        host = Column(String(255))
        hypervisor_hostname = Column(String(255))
        service_id = Column(Integer)
        vcpus = Column(Integer)
        memory_mb = Column(Integer)
        local_gb = Column(Integer)
        vcpus_used = Column(Integer)
        memory_mb_used = Column(Integer)
        local_gb_used = Column(Integer)
        free_ram_mb = Column(Integer)
        free_disk_gb = Column(Integer)
        running_vms = Column(Integer)
        cpu_allocation_ratio = Column(Float)
        ram_allocation_ratio = Column(Float)
        disk_allocation_ratio = Column(Float)
        hypervisor_type = Column(String(255))
        hypervisor_version = Column(Integer)
        cpu_info = Column(Text)
        numa_topology = Column(Text)
        stats = Column(Text)
        pci_stats = Column(Text)
        supported_instances = Column(Text)
        host_ip = Column(String(39))
        updated_at = Column(Float)

    return base, Service, ComputeNode


def _cpu_info(n):
    flags = [f"flag{i:03d}" for i in range(120)]
    return json.dumps(
        {
            "arch": "x86_64",
            "model": "Skylake-Server-IBRS",
            "vendor": "Intel",
            "topology": {"cells": 2, "sockets": 1, "cores": 16, "threads": 2},
            "features": flags,
            "node": n,
        }
    )


def _numa_topology(n):
    cells = []
    for cell in range(2):
        cpus = list(range(cell * 32, cell * 32 + 32))
        cells.append(
            {
                "nova_object.name": "NUMACell",
                "nova_object.version": "1.5",
                "nova_object.data": {
                    "id": cell,
                    "cpuset": cpus,
                    "pcpuset": [],
                    "memory": 131072,
                    "cpu_usage": n % 32,
                    "memory_usage": 4096 * (n % 8),
                    "pinned_cpus": [],
                    "siblings": [[c, c + 1] for c in cpus[::2]],
                    "mempages": [
                        {"size_kb": size, "total": 32768 // (size // 4), "used": 0}
                        for size in (4, 2048, 1048576)
                    ],
                    "network_metadata": {"physnets": [], "tunneled": False},
                    "socket": cell,
                },
            }
        )
    return json.dumps({"nova_object.name": "NUMATopology", "nova_object.data": {"cells": cells}})


def create(directory):
    """Write the cell databases (nova's schema, cut down) under ``directory``."""
    import time

    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    base, service, compute_node = _models()
    now = time.time()
    for cell in CELLS:
        engine = create_engine(f"sqlite:///{path_of(directory, cell)}")
        base.metadata.create_all(engine)
        _create_other_tables(engine)
        nodes = NODES_PER_CELL if cell in COMPUTE_CELLS else 0
        with Session(engine) as session:
            for n in range(nodes):
                host = f"{cell}-compute-{n:03d}"
                session.add(
                    service(
                        id=n + 1,
                        uuid=f"{n:08d}-{cell:0>4}-4000-8000-000000000000"[:36],
                        host=host,
                        binary="nova-compute",
                        topic="compute",
                        version=COMPUTE_VERSION,
                        updated_at=now,
                    )
                )
                session.add(
                    compute_node(
                        id=n + 1,
                        uuid=f"{n:08d}-{cell:0>4}-4000-8000-0000000000cc"[:36],
                        host=host,
                        hypervisor_hostname=host,
                        service_id=n + 1,
                        vcpus=64,
                        memory_mb=262144,
                        local_gb=2000,
                        vcpus_used=n % 64,
                        memory_mb_used=512 * n,
                        local_gb_used=n,
                        free_ram_mb=262144 - 512 * n,
                        free_disk_gb=2000 - n,
                        running_vms=n,
                        cpu_allocation_ratio=4.0,
                        ram_allocation_ratio=1.0,
                        disk_allocation_ratio=1.0,
                        hypervisor_type="QEMU",
                        hypervisor_version=8002000,
                        cpu_info=_cpu_info(n),
                        numa_topology=_numa_topology(n),
                        stats=json.dumps({f"num_proj_{p:032x}": "1" for p in range(n % 5)}),
                        pci_stats=json.dumps({"nova_object.data": {"pools": []}}),
                        supported_instances=json.dumps(
                            [["x86_64", "qemu", "hvm"], ["i686", "qemu", "hvm"]]
                        ),
                        host_ip=f"10.0.{CELLS.index(cell)}.{n + 1}",
                        updated_at=now,
                    )
                )
            session.commit()
        engine.dispose()


def _create_other_tables(engine):
    from sqlalchemy import text

    columns = ", ".join(f"c{n} VARCHAR(255)" for n in range(20))
    with engine.begin() as connection:
        for table in OTHER_TABLES + tuple(f"shadow_{t}" for t in OTHER_TABLES):
            connection.execute(text(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, {columns})"))
            connection.execute(text(f"CREATE INDEX ix_{table}_a ON {table} (c1, c2)"))
            connection.execute(text(f"CREATE INDEX ix_{table}_b ON {table} (c3)"))


def path_of(directory, cell):
    return os.path.join(directory, f"{cell}.sqlite")


class Cells:
    """One oslo.db transaction context per cell, built in the worker process."""

    def __init__(self, directory):
        from oslo_db.sqlalchemy import enginefacade

        _base, self._service, self._compute_node = _models()

        @enginefacade.transaction_context_provider
        class RequestContext:
            """What nova's ``target_cell`` hands to each cell's query."""

        self._context_class = RequestContext
        self._facades = {}
        for cell in CELLS:
            facade = enginefacade.transaction_context()
            facade.configure(connection=f"sqlite:///{path_of(directory, cell)}")
            self._facades[cell] = facade

    def min_compute_version(self, cell):
        """nova's Service.get_minimum_version_multi, one cell's part."""
        from sqlalchemy import func

        with self._facades[cell].reader.using(self._context_class()) as session:
            version = (
                session.query(func.min(self._service.version))
                .filter(self._service.binary == "nova-compute")
                .filter(self._service.forced_down.is_(False))
                .scalar()
            )
        return version or 0

    def host_states(self, cell):
        """ServiceList + ComputeNodeList of one cell, as HostManager reads them."""
        service, node = self._service, self._compute_node
        with self._facades[cell].reader.using(self._context_class()) as session:
            services = {
                s.host: {"host": s.host, "disabled": s.disabled, "updated_at": s.updated_at}
                for s in session.query(service).filter(service.binary == "nova-compute")
            }
            nodes = session.query(node).all()
            states = []
            for row in nodes:
                states.append(
                    {
                        "uuid": row.uuid,
                        "host": row.host,
                        "service": services.get(row.host),
                        "vcpus": row.vcpus,
                        "vcpus_used": row.vcpus_used,
                        "free_ram_mb": row.free_ram_mb,
                        "free_disk_gb": row.free_disk_gb,
                        "cpu_allocation_ratio": row.cpu_allocation_ratio,
                        "cpu_info": json.loads(row.cpu_info),
                        "numa_topology": json.loads(row.numa_topology),
                        "stats": json.loads(row.stats),
                        "supported_instances": json.loads(row.supported_instances),
                    }
                )
        return states
