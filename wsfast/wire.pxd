# cython: language_level=3
"""The item kinds of ``wsfast/wire.py`` as C constants, for the Cython kernels.

Only declarations: cimporting them compiles the numbers in and imports nothing at run time.
``tests/test_layout.py`` checks that they equal the Python ones.
"""

cdef enum:
    ITEM_TEXT = 1
    ITEM_BINARY = 2
    ITEM_CLOSE = 8
    ITEM_PING = 9
    ITEM_PONG = 10
    ITEM_FAILURE = -1
    ITEM_LAST_MESSAGE = 2
    COMPRESSED = 0x40
    RSV1 = 0x40
    OP_TEXT = 1
    OP_BINARY = 2
    OP_CLOSE = 8
    OP_PING = 9
    OP_PONG = 10
