"""RPC benchmark: wsfast.rpc against python-socketio's emit-with-ack (see README.md)."""
