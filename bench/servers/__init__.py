"""Benchmark echo/broadcast servers, one module per library.

Every module is started the same way::

    python -m bench.servers.<name> --port P [--uvloop]

and prints ``READY`` on stdout once it listens on 127.0.0.1:P. See ``_common`` for the
endpoints every server must provide.
"""
