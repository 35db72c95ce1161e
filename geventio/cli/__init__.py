"""The ``python -m geventio`` command line: ``demo`` and ``bench``."""
