#!/usr/bin/env python3
"""A TCP proxy on 127.0.0.1 that delays every chunk the client sends by DELAY_MS before
forwarding it: each HTTP request then costs one extra round trip of DELAY_MS, like a distant
object store (this kernel has no netem). Usage: delay_proxy.py LISTEN_PORT TARGET_PORT DELAY_MS
Prints "ready" once listening; runs until killed."""
import asyncio
import sys

listen_port, target_port, delay = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]) / 1000


async def pipe(reader, writer, delay_s):
    try:
        while data := await reader.read(65536):
            if delay_s:
                await asyncio.sleep(delay_s)
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


async def handle(client_reader, client_writer):
    try:
        server_reader, server_writer = await asyncio.open_connection("127.0.0.1", target_port)
    except OSError:
        client_writer.close()
        return
    await asyncio.gather(pipe(client_reader, server_writer, delay),
                         pipe(server_reader, client_writer, 0))


async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", listen_port)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


asyncio.run(main())
