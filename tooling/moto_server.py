"""moto's server for the tests' DynamoDB, serving one request at a time.

DynamoDB applies a conditional write to an item atomically: the condition is checked and the write
made as one step, so fifty concurrent `UpdateItem`s guarded by `size(alerted) < :threshold` admit
exactly the threshold (install-alerts' storm control relies on it; DynamoDB developer guide,
"Condition expressions" and "Atomic counters"). moto's own server is threaded and checks and writes
without a lock, so under load two requests can both pass a condition only one of them should: a
stand-in weaker than the service. Serializing every request restores the guarantee (more strictly than
DynamoDB, which serializes per item; moto answers in about a millisecond, so nothing here waits long).

    python moto_server.py HOST PORT
"""

import sys
import threading

from werkzeug.serving import run_simple

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    host, port = sys.argv[1], int(sys.argv[2])
    app = DomainDispatcherApplication(create_backend_app)
    one_at_a_time = threading.Lock()

    def serialized(environ, start_response):
        with one_at_a_time:
            # The whole body inside the lock: a WSGI app may do its work while it is iterated.
            return list(app(environ, start_response))

    run_simple(host, port, serialized, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
