"""The one loopback HTTP server every receiver and provider stand-in runs on."""

import threading
from http.server import ThreadingHTTPServer


class LoopbackServer:
    """A threaded HTTP server on 127.0.0.1, serving a handler class from a daemon thread until stop()."""

    # The default backlog of 5 overflows when four workers post 8 at a time each; the kernel then resets
    # connections, which the fault tests would count as the provider's doing.
    backlog = 256

    def __init__(self, handler_class, port: int = 0):
        server_class = type("Server", (ThreadingHTTPServer,), {"request_queue_size": self.backlog})
        self.server = server_class(("127.0.0.1", port), handler_class)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        self.server.shutdown()
        self.server.server_close()
