"""The DICEPTION leaderboard: a store of reported and measured results, submissions and their scoring queue.

Modules (import what you need; importing this package does nothing else and never imports torch):

- ``schema``: the DataFrame column contracts between the store and the views.
- ``settings``: environment-driven settings (database URL, quota, leases, admin token, backups).
- ``db``, ``orm``, ``migrations/``: engines, the typed ORM and its Alembic migrations.
- ``store``: the ``Store`` API (frames, submissions, queue, admin); ``seed``: the reported numbers in ``data/``.
- ``backup``: SQLite snapshots through the online backup API, optionally to a Hub dataset repo.
- ``tables``, ``charts``, ``validation``, ``ui``: pure views, adapter checks and the Gradio tabs.
"""
