"""The transactional outbox for ``on_worker(..., enqueue="outbox")``.

Add ``"fastdispatch.outbox"`` to ``INSTALLED_APPS`` and migrate. A deferred
delivery is then written to the ``fastdispatch_outbox`` table in the send's own
transaction (it commits or rolls back with the data), published to the engine
right after the commit, and deleted once the engine accepted it. Whatever could
not be published (the process died, the broker was down) is sent by
``manage.py fastdispatch_relay``. Delivery is at least once.
"""
