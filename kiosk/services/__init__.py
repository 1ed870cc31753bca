"""Service functions: take a ``Session`` first, change records, only ``flush()``.

The caller (a view, a CLI command, a background job) commits once.
"""
