"""A loopback TCP proxy the fault tests put between Bellhop and a server, to cut or hold the line."""

import socket
import threading

from tests.support.services import free_port


class Proxy:
    """Forwards 127.0.0.1:port to an upstream port; cut() drops every connection, hold() stalls client bytes."""

    def __init__(self, upstream_port: int):
        self.upstream_port, self.port = upstream_port, free_port()
        self.down, self.flowing = False, threading.Event()
        self.flowing.set()
        self.connections: list[socket.socket] = []
        self.lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            if self.down:
                client.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            with self.lock:
                self.connections += [client, upstream]
            threading.Thread(target=self.pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self.pump, args=(upstream, client, False), daemon=True).start()

    def pump(self, source: socket.socket, target: socket.socket, from_client: bool) -> None:
        try:
            while True:
                if from_client:
                    self.flowing.wait()
                data = source.recv(65536)
                if not data or self.down:
                    break
                if from_client:
                    self.flowing.wait()  # held while waiting: what the client sent never arrives
                target.sendall(data)
        except OSError:
            pass
        for end in (source, target):
            try:
                end.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def hold(self) -> None:
        """Stop passing on what clients send (the server's answers still flow)."""
        self.flowing.clear()

    def cut(self) -> None:
        """Drop every connection and refuse new ones, as a dead server or network would."""
        self.down = True
        with self.lock:
            connections, self.connections = self.connections, []
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            connection.close()
        self.flowing.set()

    def restore(self) -> None:
        """Accept connections again."""
        self.down = False
        self.flowing.set()

    def close(self) -> None:
        self.cut()
        self.listener.close()
