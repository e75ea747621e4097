"""Pure-Python kernels: ``mask``, ``utf8``, ``parser``, ``builder``, ``conn``, ``upgrade``.

Twins of the Cython extensions in ``wsfast._speedups`` with the same Python-visible API and
the same behaviour (results, exception types, close codes and messages). Import them through
``wsfast._impl``, which picks the implementation.
"""
