"""moto_server.py serves moto's DynamoDB emulator like moto_server does, with
fixes for the way mqttless uses it.

- It keeps HTTP connections open between requests (waitress, a WSGI server
  with HTTP/1.1 keep-alive). moto_server runs werkzeug's development
  server, which closes the connection after every response: each request
  then cost a TCP connection and a thread, about half of the emulator's
  time in the e2e suites.
- It handles one request at a time. moto's backends take no locks, so
  concurrent requests can interleave a conditional write's check and its
  write, breaking the atomicity DynamoDB guarantees (and that the store's
  contract tests check). A lock around the application serializes the
  emulator.
- DynamoDB's requests (X-Amz-Target DynamoDB_20120810.*) go straight to
  its backend; moto's dispatcher looks the service up on the file system
  for every request. Other services (CloudFormation, for make deploy-moto)
  go through the dispatcher.
- Query on a table's key reads only the items of the partition asked for;
  moto's own reads every item of the table, so that a query's cost grew
  with the table (stream entries, sessions) over a test run. Query on an
  index no longer sorts the whole table before it filters.
- TransactWriteItems checks every condition first and writes only when all
  hold. moto's own version deep-copies the whole table once per item of
  every transaction to roll back, which makes a transaction cost grow with
  the table.

Usage: python moto_server.py HOST PORT
"""

import signal
import sys
import threading

import waitress

from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import (
    ConditionalCheckFailed,
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table
from moto.dynamodb.responses import DynamoHandler

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    create_backend_app,
)


def transact_write_items(self, transact_items):
    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    seen = set()
    ops = []
    errors = []
    for item in transact_items:
        if len(item) > 1:
            raise TransactWriteSingleOpException
        op_type, op = next(iter(item.items()))
        if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
            raise ValueError("Unsupported transaction operation")
        table_name = op["TableName"]
        table = self.get_table(table_name)
        if op_type == "Put":
            attrs = op["Item"]
            key = {table.hash_key_attr: attrs[table.hash_key_attr]}
            if table.range_key_attr is not None:
                key[table.range_key_attr] = attrs[table.range_key_attr]
        else:
            key = op["Key"]
        unique = (str(table_name), str(dict(sorted(key.items()))))
        if unique in seen:
            raise MultipleTransactionsException()
        seen.add(unique)
        ops.append((op_type, op, table_name, key))
        cond = op.get("ConditionExpression")
        if cond is None:
            errors.append((None, None, None))
            continue
        current = self.get_item(table_name, key)
        check = get_filter_expression(cond, op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues"))
        if check.expr(current):
            errors.append((None, None, None))
            continue
        old = None
        if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
            old = current.to_json()["Attributes"]
        errors.append(("ConditionalCheckFailed", str(ConditionalCheckFailed().message), old))
    if any(code is not None for code, _, _ in errors):
        raise TransactionCanceledException(errors)
    for op_type, op, table_name, key in ops:
        names, values = op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
        if op_type == "Put":
            self.put_item(table_name, op["Item"], expression_attribute_names=names, expression_attribute_values=values)
        elif op_type == "Delete":
            self.delete_item(table_name, key, expression_attribute_names=names, expression_attribute_values=values)
        elif op_type == "Update":
            self.update_item(table_name, key, update_expression=op["UpdateExpression"],
                             expression_attribute_names=names, expression_attribute_values=values)


_handled_tokens = {}
_original_transact = DynamoHandler.transact_write_items


def idempotent_transact(self):
    token = self.body.get("ClientRequestToken")
    if token and token in _handled_tokens:
        return _handled_tokens[token]
    result = _original_transact(self)
    if token:
        if len(_handled_tokens) > 100_000:
            _handled_tokens.clear()
        _handled_tokens[token] = result
    return result


_original_query = Table.query


def _unsorted_items(table):
    if table.range_key_attr:
        return [item for part in table.items.values() for item in part.values()]
    return list(table.items.values())


def partition_query(self, hash_key, *args, **kwargs):
    """Table.query on the table's own key (no index) over the one partition
    asked for: the original reads every item of the table and keeps those
    of the partition. A query of an index still reads every item, but
    without sorting the whole table first (Table.all_items does; the index
    query sorts what it keeps by the index's keys). The swaps are safe
    because requests are serialized."""
    index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
    if index_name:
        self.all_items = lambda: _unsorted_items(self)
        try:
            return _original_query(self, hash_key, *args, **kwargs)
        finally:
            del self.all_items
    if hash_key is None:
        return _original_query(self, hash_key, *args, **kwargs)
    everything = self.items
    part = everything.get(hash_key)
    self.items = {hash_key: part} if part is not None else {}
    try:
        return _original_query(self, hash_key, *args, **kwargs)
    finally:
        self.items = everything


def main() -> None:
    DynamoDBBackend.transact_write_items = transact_write_items
    DynamoHandler.transact_write_items = idempotent_transact
    Table.query = partition_query
    host, port = sys.argv[1], int(sys.argv[2])
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    app = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()
    dynamodb = []

    def serialized(environ, start_response):
        with lock:
            if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_20120810."):
                if not dynamodb:
                    dynamodb.append(app.get_application(environ))
                return list(dynamodb[0](environ, start_response))
            return list(app(environ, start_response))

    # Threads only read requests and write responses: the lock runs one
    # application call at a time.
    waitress.serve(serialized, host=host, port=port, threads=8, connection_limit=1000,
                   channel_timeout=300, _quiet=True)


if __name__ == "__main__":
    main()
