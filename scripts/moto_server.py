"""moto server with each request handled atomically.

moto's in-memory backends are not thread-safe: concurrent TransactWriteItems on one table
fail inside moto with "dictionary changed size during iteration", which real DynamoDB never
does. Handling one request at a time restores DynamoDB's per-request atomicity while requests
from many clients still interleave, so race tests keep their meaning.

Usage: python scripts/moto_server.py HOST PORT
"""

import os
import sys
import threading

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple


def main() -> None:
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
