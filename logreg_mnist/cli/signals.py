"""Ctrl-C and SIGTERM, taken where the program's state is whole.

* ``deferred_interrupts``: Ctrl-C / SIGTERM wait until a block is done (a
  save of several files);
* ``stop_requests``: Ctrl-C / SIGTERM ask a loop to stop at its next safe
  point; a second one interrupts at once, and so does one that comes
  before the loop has begun.
"""
import contextlib
import os
import signal
import sys
import threading


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def _handling(handler):
    """Route SIGINT and SIGTERM to ``handler`` inside the block."""
    if threading.current_thread() is not threading.main_thread():
        yield   # only the main thread may handle signals
        return
    previous = {sig: signal.signal(sig, handler) for sig in _STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@contextlib.contextmanager
def deferred_interrupts():
    """Hold Ctrl-C (SIGINT) and SIGTERM until the block has finished.

    Saving a model writes two files; an interruption between them would
    leave the newest best model in one format only.  A signal that arrives
    inside the block is delivered again, to the previous handler, after it.
    """
    received = []
    with _handling(lambda sig, frame: received.append(sig)):
        yield
    for sig in received[:1]:
        signal.raise_signal(sig)


class StopRequest(object):
    """True once Ctrl-C or SIGTERM has asked the loop to stop.

    Until ``defer()`` is called -- while the data is read and the functions
    compiled, when there is nothing to save yet -- a signal interrupts at
    once (KeyboardInterrupt), so that a run being stopped does not first
    finish a long compile.  Python drops a KeyboardInterrupt raised while
    it runs a finalizer or a callback from C (Numba's compiler runs many),
    so such a signal is sent again every second until the block ends, and
    ``defer()`` raises it if it is still pending.
    """

    def __init__(self):
        self.signal = None
        self.deferred = False
        self.active = True   # inside ``stop_requests``
        self._again = None   # the timer that sends the signal again

    def __bool__(self):
        return self.signal is not None

    def defer(self):
        """From now on, a first signal only asks the loop to stop."""
        if self:   # asked to stop while compiling: stop now
            raise KeyboardInterrupt
        self.deferred = True

    def _handle(self, sig, frame):
        asked_before, self.signal = self.signal, sig
        if self.deferred and asked_before is None:
            return   # the loop stops at its next safe point
        if not self.deferred and self._again is None:
            self._again = threading.Timer(1.0, self._send_again)
            self._again.daemon = True
            self._again.start()
        raise KeyboardInterrupt

    def _send_again(self):
        self._again = None
        if self.active:   # the interrupt was lost: the block still runs
            os.kill(os.getpid(), self.signal)

    def close(self):
        self.active = False
        again = self._again
        if again is not None:
            again.cancel()
            again.join()


@contextlib.contextmanager
def stop_requests():
    """Yield a ``StopRequest`` that turns true on Ctrl-C or SIGTERM.

    The loop checks it at points where its state is whole (a minibatch
    finished, the best model saved) and stops there cleanly.
    """
    request = StopRequest()
    hook = sys.unraisablehook

    def report(unraisable):   # all but the interrupts Python dropped
        if not issubclass(unraisable.exc_type, KeyboardInterrupt):
            hook(unraisable)
    sys.unraisablehook = report
    try:
        with _handling(request._handle):
            yield request
    finally:
        request.close()
        sys.unraisablehook = hook
