"""Child processes in tests: their output read line by line, each line with a
timeout, so that a child that hangs fails the test instead of hanging it."""

import os
import select
import time

#: Seconds a child process may take for any one line (each needs well under one).
PROCESS_TIMEOUT = 30


class Lines:
    """The lines a child writes to a pipe (bytes mode), each read with a timeout."""

    def __init__(self, pipe):
        self._fd = pipe.fileno()
        self.rest = b''

    def next(self):
        """The next line, decoded, without its newline."""
        deadline = time.monotonic() + PROCESS_TIMEOUT
        while b'\n' not in self.rest:
            left = deadline - time.monotonic()
            assert left > 0 and select.select([self._fd], [], [], left)[0], 'timed out'
            chunk = os.read(self._fd, 4096)
            assert chunk, f'end of output after {self.rest!r}'
            self.rest += chunk
        line, _, self.rest = self.rest.partition(b'\n')
        return line.decode()

    def until(self, text):
        """Read lines until one contains ``text``; returns that line."""
        while True:
            line = self.next()
            if text in line:
                return line
