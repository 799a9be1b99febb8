"""A stand-in for ``replikv serve`` with the same flags, for testing the cluster
tooling by itself: a RESP server with PING, SET, GET, INFO replication and the
``RKVADMIN`` verbs, and no replication at all (node 1 says it is the primary).

``--option fake=exit`` makes it fail at start-up, ``--option fake=silent`` makes it
start but never listen, so the tooling's error paths can be exercised.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from replikv.resp.protocol import RespParser


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("serve")
    parser.add_argument("--id", type=int, required=True)
    parser.add_argument("--protocol", required=True)
    parser.add_argument("--peers", default="")
    parser.add_argument("--client-port", type=int, required=True)
    parser.add_argument("--peer-port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--option", action="append", default=[])
    args, _ = parser.parse_known_args(argv)
    return args


def _bulk(value: str | None) -> bytes:
    if value is None:
        return b"$-1\r\n"
    data = value.encode("latin-1")
    return b"$%d\r\n%s\r\n" % (len(data), data)


class FakeNode:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.data: dict[str, str] = {}
        self.blocked = ""
        self.role = "primary" if args.id == 1 else "backup"
        self.commit_index = 0

    def answer(self, command: list[bytes]) -> bytes:
        name = command[0].decode().upper()
        args = [part.decode("latin-1") for part in command[1:]]
        if name == "PING":
            return b"+PONG\r\n"
        if name == "SET":
            self.data[args[0]] = args[1]
            self.commit_index += 1
            return b"+OK\r\n"
        if name == "GET":
            return _bulk(self.data.get(args[0]))
        if name == "INFO":
            return _bulk(f"# Replication\r\nrole:{self.role}\r\nterm:1\r\ncommit_index:{self.commit_index}\r\n")
        if name == "RKVADMIN":
            return self.admin(args[0], args[1:])
        return b"-ERR unknown command '%s'\r\n" % name.encode()

    def admin(self, verb: str, args: list[str]) -> bytes:
        if verb == "status":
            status = {
                "node": self.args.id, "role": self.role, "term": 1, "leader": 1,
                "commit_index": self.commit_index, "applied_index": self.commit_index,
                "last_index": self.commit_index, "members": [1, 2, 3], "peers": {},
                "blocked": self.blocked,
            }
            return _bulk(json.dumps(status))
        if verb == "partition":
            self.blocked = " ".join(args)
            return b"+OK\r\n"
        if verb == "heal":
            self.blocked = ""
            return b"+OK\r\n"
        if verb == "promote":
            self.role = "primary"
            return b"+OK\r\n"
        return b"-ERR unknown admin verb '%s'\r\n" % verb.encode()

    async def client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        parser = RespParser()
        while data := await reader.read(65536):
            parser.feed(data)
            while (command := parser.next_command()) is not None:
                writer.write(self.answer(command))
            await writer.drain()
        writer.close()


async def _main(args: argparse.Namespace) -> None:
    node = FakeNode(args)
    server = await asyncio.start_server(node.client, args.host, args.client_port)
    print(f"fake node {args.id} serving clients on {args.host}:{args.client_port}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    args = _parse(sys.argv[1:])
    mode = dict(option.split("=", 1) for option in args.option).get("fake")
    if mode == "exit":
        print("fake node: refusing to start (asked to)", flush=True)
        sys.exit(3)
    if mode == "silent":
        asyncio.run(asyncio.sleep(3600))
    asyncio.run(_main(args))


if __name__ == "__main__":
    main()
