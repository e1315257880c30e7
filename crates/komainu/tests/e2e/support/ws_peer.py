"""A WebSocket peer on the `websockets` library with its defaults (it offers and accepts
permessage-deflate, as browsers do).

  ws_peer.py serve               echoes messages; `__extensions__` is answered with the
                                 extensions its handshake agreed; prints its port first
  ws_peer.py client URL [CAFILE] exchanges messages (a large compressible one among them) and
                                 prints what it saw as JSON
"""
import asyncio
import json
import ssl
import sys

from websockets.asyncio.client import connect
from websockets.asyncio.server import serve


async def echo(ws):
    async for message in ws:
        if message == "__extensions__":
            names = [e.name for e in ws.protocol.extensions]
            await ws.send(json.dumps(names))
        else:
            await ws.send(message)


async def server():
    async with serve(echo, "127.0.0.1", 0, max_size=None) as s:
        print(s.sockets[0].getsockname()[1], flush=True)
        await asyncio.get_running_loop().create_future()


async def client(url, cafile):
    context = ssl.create_default_context(cafile=cafile) if url.startswith("wss") else None
    async with connect(url, ssl=context, max_size=None) as ws:
        sent = ["hello", "komainu " * 20000, "\u00e9t\u00e9", b"\x00\x01\x02" * 1000]
        got = []
        for message in sent:
            await ws.send(message)
            got.append(await ws.recv())
        await ws.send("__extensions__")
        upstream = json.loads(await ws.recv())
        print(json.dumps({
            "echoed": got == sent,
            "client_extensions": [e.name for e in ws.protocol.extensions],
            "upstream_extensions": upstream,
        }), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        asyncio.run(server())
    else:
        asyncio.run(client(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None))
