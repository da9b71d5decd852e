import logging
import os
import signal
import threading
import time

from oslo_config import cfg
import pytest

from oslo_threading_backend import thread_dump

WAIT = 5.0


class DumpCatcher(logging.Handler):
    """Keeps the dump records and says when one arrived."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records = []
        self.arrived = threading.Event()

    def emit(self, record):
        if "Thread dump of" in record.getMessage():
            self.records.append(record)
            self.arrived.set()


@pytest.fixture
def catcher():
    logger = logging.getLogger(thread_dump.__name__)
    handler = DumpCatcher()
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


@pytest.fixture
def conf():
    conf = cfg.ConfigOpts()
    thread_dump.register_opts(conf)
    conf([], project="test")
    return conf


@pytest.fixture(autouse=True)
def restore_handler():
    before = signal.getsignal(signal.SIGUSR2)
    yield
    thread_dump.uninstall()
    signal.signal(signal.SIGUSR2, before)
    join_dump_threads()


def join_dump_threads():
    for thread in threading.enumerate():
        if thread.name == "thread-dump":
            thread.join(WAIT)
            assert not thread.is_alive()


@pytest.mark.parametrize(
    "value, expected",
    [("SIGUSR2", signal.SIGUSR2), ("usr1", signal.SIGUSR1), (" SIGQUIT ", signal.SIGQUIT)],
)
def test_parse_signal_accepts_names(value, expected):
    assert thread_dump.parse_signal(value) == expected


def test_parse_signal_empty_disables():
    assert thread_dump.parse_signal("") is None
    assert thread_dump.parse_signal("  ") is None


@pytest.mark.parametrize("name", ["SIGTERM", "SIGINT", "hup", "SIGALRM", "SIGCHLD"])
def test_parse_signal_refuses_launcher_signals(name):
    with pytest.raises(ValueError, match="thread_dump_signal.*launcher uses.*SIGUSR2"):
        thread_dump.parse_signal(name)


@pytest.mark.parametrize("name", ["SIGFOO", "SIGKILL", "SIGSEGV", "SIGSTOP", "12", "SIG_IGN"])
def test_parse_signal_refuses_unsupported(name):
    with pytest.raises(ValueError, match="thread_dump_signal.*not a supported signal.*SIGUSR2"):
        thread_dump.parse_signal(name)


def test_parse_signal_type():
    with pytest.raises(TypeError, match="thread_dump_signal"):
        thread_dump.parse_signal(12)


def test_list_opts_names_the_option():
    [(group, opts)] = thread_dump.list_opts()
    assert group is None
    assert [o.name for o in opts] == ["thread_dump_signal"]
    assert opts[0].default == "SIGUSR2"


def test_install_default_and_uninstall(conf):
    previous = signal.getsignal(signal.SIGUSR2)
    assert thread_dump.install(conf) == signal.SIGUSR2
    assert thread_dump.installed_signal() == signal.SIGUSR2
    assert signal.getsignal(signal.SIGUSR2) is not previous
    # Installing again is harmless and keeps the original handler to restore.
    assert thread_dump.install(conf) == signal.SIGUSR2
    thread_dump.uninstall()
    assert signal.getsignal(signal.SIGUSR2) == previous
    assert thread_dump.installed_signal() is None
    thread_dump.uninstall()  # again: nothing to do


def test_install_disabled_removes_earlier_install(conf):
    previous = signal.getsignal(signal.SIGUSR2)
    thread_dump.install(conf)
    conf.set_override("thread_dump_signal", "")
    assert thread_dump.install(conf) is None
    assert signal.getsignal(signal.SIGUSR2) == previous


def test_install_other_signal_moves_the_handler(conf):
    usr1_before = signal.getsignal(signal.SIGUSR1)
    usr2_before = signal.getsignal(signal.SIGUSR2)
    thread_dump.install(conf)
    conf.set_override("thread_dump_signal", "SIGUSR1")
    try:
        assert thread_dump.install(conf) == signal.SIGUSR1
        assert signal.getsignal(signal.SIGUSR2) == usr2_before
    finally:
        thread_dump.uninstall()
    assert signal.getsignal(signal.SIGUSR1) == usr1_before


def test_install_bad_signal_changes_nothing(conf):
    previous = signal.getsignal(signal.SIGUSR2)
    conf.set_override("thread_dump_signal", "SIGTERM")
    with pytest.raises(ValueError, match="thread_dump_signal"):
        thread_dump.install(conf)
    assert signal.getsignal(signal.SIGUSR2) == previous
    assert signal.getsignal(signal.SIGTERM) != thread_dump._on_signal


def test_install_needs_a_conf():
    with pytest.raises(TypeError, match="ConfigOpts"):
        thread_dump.install({"thread_dump_signal": "SIGUSR2"})


def test_install_outside_main_thread(conf):
    errors = []

    def run():
        try:
            thread_dump.install(conf)
        except RuntimeError as exc:
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(WAIT)
    assert len(errors) == 1 and "main thread" in str(errors[0])


def test_format_dump_lists_every_thread_with_its_stack():
    release = threading.Event()

    def parked_in_a_known_function():
        release.wait(WAIT)

    thread = threading.Thread(target=parked_in_a_known_function, name="parked", daemon=True)
    thread.start()
    try:
        text = thread_dump.format_dump()
    finally:
        release.set()
        thread.join(WAIT)
    assert text.startswith(f"===== Thread dump of pid {os.getpid()} (")
    assert text.endswith("=====") and "End of thread dump" in text.splitlines()[-1]
    assert (
        f'--- Thread "parked" (ident {thread.ident}, native id {thread.native_id}, daemon True)'
        in text
    )
    assert "in parked_in_a_known_function" in text
    # The main thread comes first; here it is also the thread writing the dump.
    assert text.splitlines()[1].startswith('--- Thread "MainThread" (')
    assert "main thread) ---\n  <this thread: writing the dump>" in text


def test_signal_logs_one_delimited_record_from_a_dump_thread(conf, catcher):
    thread_dump.install(conf)
    os.kill(os.getpid(), signal.SIGUSR2)
    assert catcher.arrived.wait(WAIT)
    join_dump_threads()
    [record] = catcher.records
    assert record.levelno == logging.WARNING
    assert record.threadName == "thread-dump"
    text = record.getMessage()
    assert text.startswith(f"===== Thread dump of pid {os.getpid()}")
    assert "===== End of thread dump" in text
    # The main thread's stack shows where it was when the signal came.
    assert "in test_signal_logs_one_delimited_record_from_a_dump_thread" in text
    # Logging from a thread threading did not start would leave a "Dummy-N" behind.
    assert not [t for t in threading.enumerate() if t.name.startswith("Dummy")]
    assert thread_dump._starters == set()


def test_handler_does_not_block_the_main_thread(conf, catcher):
    # If the handler logged in the main thread, emit() would wait for an event that
    # only the main thread sets after the handler returned: a deadlock (WAIT s).
    main_done = threading.Event()
    emitted_in = []

    class WaitsForMain(logging.Handler):
        def emit(self, record):
            emitted_in.append(threading.current_thread().name)
            emitted_in.append(main_done.wait(WAIT))

    blocker = WaitsForMain()
    logging.getLogger(thread_dump.__name__).addHandler(blocker)
    try:
        thread_dump.install(conf)
        started = time.monotonic()
        os.kill(os.getpid(), signal.SIGUSR2)
        main_done.set()
        assert time.monotonic() - started < 1.0
        assert catcher.arrived.wait(WAIT)
        join_dump_threads()
    finally:
        logging.getLogger(thread_dump.__name__).removeHandler(blocker)
    assert emitted_in == ["thread-dump", True]


def wait_for_child(pid, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    raise AssertionError(f"child {pid} did not finish within {timeout} s")


# The parent has a thread on purpose (the child must not show it): 3.12+ warns.
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_forked_child_inherits_the_handler(conf, tmp_path):
    setproctitle = pytest.importorskip("setproctitle")
    log_path = tmp_path / "child.log"
    title_path = tmp_path / "child.title"
    thread_dump.install(conf)
    release = threading.Event()
    parent_only = threading.Thread(target=release.wait, args=(WAIT,), name="parent-only")
    parent_only.start()
    try:
        pid = os.fork()
        if pid == 0:  # the child: installs nothing, only logs to a file
            code = 1
            try:
                setproctitle.setproctitle("thread-dump-test-child")
                # Without its C extension setproctitle does nothing and reports argv.
                title_path.write_text(setproctitle.getproctitle())
                logger = logging.getLogger(thread_dump.__name__)
                logger.propagate = False
                logger.handlers = [logging.FileHandler(log_path)]
                child_catcher = DumpCatcher()
                logger.addHandler(child_catcher)
                os.kill(os.getpid(), signal.SIGUSR2)
                code = 0 if child_catcher.arrived.wait(WAIT) else 3
                logger.handlers[0].flush()
            finally:
                os._exit(code)
        assert wait_for_child(pid, WAIT * 2) == 0
    finally:
        release.set()
        parent_only.join(WAIT)
    text = log_path.read_text()
    title = title_path.read_text()
    if hasattr(setproctitle, "_setproctitle"):  # the C extension is there
        assert title == "thread-dump-test-child"
    assert f"===== Thread dump of pid {pid} ({title}): " in text
    assert f"===== End of thread dump of pid {pid} ({title}) =====" in text
    # The child's threads, not the parent's.
    assert "parent-only" not in text
    assert "in test_forked_child_inherits_the_handler" in text


def test_install_steps_aside_for_the_applications_handler_and_says_so(conf, caplog):
    got = threading.Event()

    def app_handler(signo, frame):
        got.set()

    signal.signal(signal.SIGUSR2, app_handler)
    with caplog.at_level(logging.INFO, logger=thread_dump.__name__):
        assert thread_dump.install(conf) is None
        assert thread_dump.install(conf) is None  # said once per handler
    assert signal.getsignal(signal.SIGUSR2) is app_handler
    assert thread_dump.installed_signal() is None
    assert thread_dump.stepped_aside_signal() == signal.SIGUSR2
    said = [r.getMessage() for r in caplog.records if "steps aside" in r.getMessage()]
    assert len(said) == 1, said
    assert "SIGUSR2: the application handles it (" in said[0]
    assert "app_handler" in said[0] and "thread_dump_signal" in said[0]
    os.kill(os.getpid(), signal.SIGUSR2)
    assert got.wait(WAIT)


def test_a_handler_the_application_put_over_ours_stays_on_reinstall(conf):
    assert thread_dump.install(conf) == signal.SIGUSR2

    def app_handler(signo, frame):
        pass

    signal.signal(signal.SIGUSR2, app_handler)
    assert thread_dump.install(conf) is None
    assert signal.getsignal(signal.SIGUSR2) is app_handler


def test_ignored_or_default_signal_is_not_an_application_handler(conf):
    signal.signal(signal.SIGUSR2, signal.SIG_IGN)
    assert thread_dump.install(conf) == signal.SIGUSR2
    assert thread_dump.stepped_aside_signal() is None
    thread_dump.uninstall()
    assert signal.getsignal(signal.SIGUSR2) == signal.SIG_IGN
