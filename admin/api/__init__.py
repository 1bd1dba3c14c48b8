"""The console's JSON API under ``/admin/api``, one module per area, each with ``router``."""
