"""Showing that a long run is alive, without touching the tutorial's log.

``StatusLine`` keeps one line on stderr up to date ("epoch 12: minibatch
40/83 ...") when stderr is a terminal, at most a few times a second.  When
stderr is a file or a pipe it does nothing at all, so logs and tests see the
tutorial's output unchanged.  Call ``clear()`` before printing to stdout.
"""
import sys
import time


class StatusLine(object):

    def __init__(self, stream=None, interval=0.2):
        self.stream = sys.stderr if stream is None else stream
        self.enabled = hasattr(self.stream, 'isatty') and self.stream.isatty()
        self.interval = interval
        self.shown = False
        self.last = None   # no update shown yet: the first one shows

    def due(self):
        """True when an update would be shown now (a caller can skip making
        the text, which may cost something, when it would not)."""
        return self.enabled and (self.last is None or
                                 time.monotonic() - self.last >=
                                 self.interval)

    def update(self, text):
        """Show ``text`` (if the last update is old enough)."""
        if not self.due():
            return
        self.last = time.monotonic()
        self.stream.write('\r\033[K' + text)
        self.stream.flush()
        self.shown = True

    def clear(self):
        """Erase the line, e.g. before the tutorial prints a result line."""
        if self.shown:
            self.stream.write('\r\033[K')
            self.stream.flush()
            self.shown = False
            self.last = None
