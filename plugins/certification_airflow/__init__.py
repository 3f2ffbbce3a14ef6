"""Airflow glue for the certification library, laid out as an Airflow provider: hooks (the ledger connection),
operators (a role's sign-off), triggers (waiting for it without a worker slot), notifiers (monitoring alerts), the
dashboard plugin, the runtime's identities, and the preload of the library into the processes that fork tasks.

Business logic lives in the `certification` package; nothing here decides a verdict.
"""
