"""Cython kernels: ``mask``, ``utf8``, ``parser``, ``builder``, ``conn``, ``upgrade``.

Each compiled module has a pure-Python twin of the same name in ``wsfast._pure`` with the same
Python-visible API. Import them through ``wsfast._impl``, which picks the implementation.
"""
