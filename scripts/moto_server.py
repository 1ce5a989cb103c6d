"""moto server with each request handled atomically.

moto's in-memory backends are not thread-safe: concurrent TransactWriteItems on one table
fail inside moto with "dictionary changed size during iteration", which real DynamoDB never
does. Handling one request at a time restores DynamoDB's per-request atomicity while requests
from many clients still interleave, so race tests keep their meaning.

TransactWriteItems keeps its all-or-nothing effect, at the cost of the items it names: moto
backs up a cancelled transaction by deep-copying every table it touches, once per item, so a
transaction costs time in proportion to the table (hours for `make load` on a table of 50,000
items). Here only the named items, and the stream records the transaction wrote, are saved and
put back. A Query of the table's key reads only that partition (moto scans the whole table).

Usage: python scripts/moto_server.py HOST PORT
"""

import copy
import os
import sys
import threading

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple


def journal_transactions() -> None:
    import moto
    from moto.dynamodb import models

    # The patch relies on this version's internals (its rollback swaps in table copies made
    # with the backend module's `copy`): another version must be looked at first.
    if moto.__version__ != "5.2.5":
        sys.exit(f"scripts/moto_server.py patches moto 5.2.5, not {moto.__version__}")
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    class TablesAreNotCopied:
        """`copy` as moto's backend module sees it: a table "backup" is the table itself, so
        moto's own rollback is a no-op and the journal below does the work."""

        @staticmethod
        def deepcopy(value, memo=None):
            return value if isinstance(value, Table) else copy.deepcopy(value, memo)

    models.copy = TablesAreNotCopied
    moto_transact = models.DynamoDBBackend.transact_write_items

    def named_items(backend, transact_items):
        for entry in transact_items:
            op = next(iter(entry.values()), None) or {}
            table = backend.tables.get(op.get("TableName"))
            attrs = op.get("Item") or op.get("Key")
            if table is None or not attrs or table.hash_key_attr not in attrs:
                continue
            hash_value = DynamoType(attrs[table.hash_key_attr])
            range_value = None
            if table.range_key_attr is not None:
                if table.range_key_attr not in attrs:
                    continue
                range_value = DynamoType(attrs[table.range_key_attr])
            yield table, hash_value, range_value

    def transact_write_items(self, transact_items):
        saved = []
        streams = {}
        for table, hash_value, range_value in named_items(self, transact_items):
            current = table.get_item(hash_value, range_value)
            saved.append((table, hash_value, range_value, copy.deepcopy(current)))
            if table.stream_shard is not None:
                streams.setdefault(id(table), (table.stream_shard, len(table.stream_shard.items)))
        try:
            return moto_transact(self, transact_items)
        except Exception:
            for table, hash_value, range_value, before in reversed(saved):
                bucket = table.items[hash_value] if range_value is not None else table.items
                key = range_value if range_value is not None else hash_value
                if before is None:
                    bucket.pop(key, None)
                else:
                    bucket[key] = before
                if range_value is not None and not table.items[hash_value]:
                    del table.items[hash_value]
            for shard, length in streams.values():
                del shard.items[length:]
            raise

    models.DynamoDBBackend.transact_write_items = transact_write_items


def partition_queries() -> None:
    """A Query of a table's own key reads that partition, as DynamoDB does, not every item of
    the table (moto filters `all_items()`: past the SDK's timeouts on a 100,000-item table)."""
    from moto.dynamodb.models.table import Table

    moto_query = Table.query

    def query(self, hash_key, *args, **kwargs):
        index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
        if index_name is not None or hash_key is None or self.range_key_attr is None:
            return moto_query(self, hash_key, *args, **kwargs)
        partition = self.items.get(hash_key, {})
        self.all_items = lambda: list(partition.values())
        try:
            return moto_query(self, hash_key, *args, **kwargs)
        finally:
            del self.all_items

    Table.query = query


def main() -> None:
    journal_transactions()
    partition_queries()
    host, port = sys.argv[1], int(sys.argv[2])
    os.environ.setdefault("MOTO_PORT", str(port))
    app = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()

    def one_at_a_time(environ, start_response):
        with lock:
            # Drain the response inside the lock: the backend builds it lazily.
            return list(app(environ, start_response))

    run_simple(host, port, one_at_a_time, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
