"""A pool thread's next task does not inherit the oslo.context request context of its last.

Against the real oslo.context, oslo.log and futurist: with max_workers=1 both
tasks run on the same thread. The futurist case is also checked without the fix
(futurist's own loop), which is what the fix changes.
"""

import io
import logging
import threading

import futurist
from oslo_config import cfg
from oslo_context import context as oslo_context
from oslo_log import formatters
from oslo_log import log as oslo_log
import pytest

from oslo_threading_backend._openstack import request_context
from oslo_threading_backend._threads.pool import ThreadPoolExecutor
from oslo_threading_backend._upstream import futurist_fixes as _futurist_fixes
from tests.unit.polling import WAIT


@pytest.fixture
def on_demand():
    assert _futurist_fixes.apply_threads_on_demand(None)
    yield
    _futurist_fixes.remove()


def _a_request() -> tuple[str, int]:
    """What an RPC call does on nova: its serializer makes the call's context."""
    ctxt = oslo_context.RequestContext(user_id="u1", project_id="p1")
    assert oslo_context.get_current() is ctxt
    return ctxt.request_id, threading.get_ident()


def _no_context_of_its_own() -> tuple[object, int]:
    return oslo_context.get_current(), threading.get_ident()


def _run_both(pool):
    request_id, first_thread = pool.submit(_a_request).result(WAIT)
    current, second_thread = pool.submit(_no_context_of_its_own).result(WAIT)
    assert first_thread == second_thread  # one thread ran both
    return request_id, current


def test_futurist_pool_thread_forgets_the_last_tasks_context(on_demand):
    pool = futurist.ThreadPoolExecutor(max_workers=1)
    try:
        _, current = _run_both(pool)
    finally:
        pool.shutdown(wait=True)
    assert current is None


def test_without_the_fix_futurist_hands_the_context_to_the_next_task():
    assert not _futurist_fixes.threads_on_demand_applied()
    pool = futurist.ThreadPoolExecutor(max_workers=1)
    try:
        request_id, current = _run_both(pool)
    finally:
        pool.shutdown(wait=True)
    assert current is not None and current.request_id == request_id


def test_our_pool_thread_forgets_the_last_tasks_context():
    pool = ThreadPoolExecutor(1, name="ctx")
    try:
        _, current = _run_both(pool)
    finally:
        pool.shutdown(wait=True)
    assert current is None


def test_a_task_keeps_the_context_it_sets_while_it_runs(on_demand):
    """nova's spawn_on() wrapper sets the caller's context first: kept for the task."""
    outer = oslo_context.RequestContext(user_id="caller", overwrite=False)

    def wrapped():
        outer.update_store()
        oslo_context.RequestContext(user_id="nested", overwrite=False)  # not current
        return oslo_context.get_current()

    pool = futurist.ThreadPoolExecutor(max_workers=1)
    try:
        assert pool.submit(wrapped).result(WAIT) is outer
        assert pool.submit(oslo_context.get_current).result(WAIT) is None
    finally:
        pool.shutdown(wait=True)
        request_context.forget()


def test_log_lines_of_a_context_less_task_name_no_earlier_request(on_demand):
    """oslo.log's formatter takes the request id from the thread's current context."""
    conf = cfg.ConfigOpts()
    oslo_log.register_options(conf)
    conf([], project="ctxtest")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatters.ContextFormatter(config=conf, project="ctxtest"))
    logger = logging.getLogger("tests.request_context")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False

    def periodic_job():
        logger.info("periodic job ran")

    pool = futurist.ThreadPoolExecutor(max_workers=1)
    try:
        request_id, _ = pool.submit(_a_request).result(WAIT)
        pool.submit(periodic_job).result(WAIT)
    finally:
        pool.shutdown(wait=True)
        logger.removeHandler(handler)
    line = stream.getvalue()
    assert "periodic job ran" in line
    assert request_id not in line


def test_forget_without_a_context_is_harmless():
    request_context.forget()
    assert oslo_context.get_current() is None


def test_current_reads_what_oslo_context_get_current_returns(monkeypatch):
    def on_a_new_thread(fn):
        out = []
        thread = threading.Thread(target=lambda: out.append(fn()))
        thread.start()
        thread.join(WAIT)
        return out[0]

    # A thread that never had a context (get_current() raises and catches inside).
    assert on_a_new_thread(request_context.current) is None
    assert on_a_new_thread(oslo_context.get_current) is None

    def made_here():
        ctxt = oslo_context.RequestContext()
        return request_context.current() is ctxt is oslo_context.get_current()

    assert on_a_new_thread(made_here)

    def forgotten():
        oslo_context.RequestContext()
        request_context.forget()
        return request_context.current(), oslo_context.get_current()

    assert on_a_new_thread(forgotten) == (None, None)

    # An oslo.context that keeps its store under another name: asked through its API.
    ctxt = oslo_context.RequestContext()
    monkeypatch.delattr(oslo_context, "_request_store")
    monkeypatch.setattr(oslo_context, "get_current", lambda: ctxt)
    assert request_context.current() is ctxt
