"""Fan-out: one page of a product's audience per invocation (``pages``), planned purely (``plan``): preferences,
version lines, contract, one address per account, role copies, cut into delivery batches.

Uses: ``core``, ``digests`` (a page's digested recipients are queued, not sent).
"""
