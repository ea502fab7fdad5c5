#!/usr/bin/env python3
"""A listing-only S3 endpoint on 127.0.0.1 that answers ListObjectsV2 from keys held in memory:
N objects named data/dDDD/obj-NNNNNNN spread over DIRS directories. It stands in for a store
whose listing scales out (OSS, S3), where a page costs the round trip and not a server
process's CPU; s3rver reads a metadata file per listed key in one Node process, so its listing
rate caps any client at a few thousand keys/s. Signatures are not checked.
Usage: list_server.py PORT BUCKET OBJECTS DIRS. Prints "ready" once listing; runs until killed."""
import bisect
import socket
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.sax.saxutils import escape

port, bucket, objects, dirs = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
KEYS = sorted(f"data/d{i % dirs:03d}/obj-{i:07d}" for i in range(objects))
ETAG = '"6d0bb00954ceb7fbee436bb55a8397a9"'


def list_page(prefix, delimiter, start_after, max_keys):
    """Keys and common prefixes after start_after, at most max_keys of them together."""
    contents, prefixes = [], []
    i = bisect.bisect_right(KEYS, start_after) if start_after else bisect.bisect_left(KEYS, prefix)
    last = ""
    while i < len(KEYS) and KEYS[i].startswith(prefix):
        if len(contents) + len(prefixes) == max_keys:
            return contents, prefixes, last
        key = KEYS[i]
        cut = key.find(delimiter, len(prefix)) if delimiter else -1
        if cut < 0:
            contents.append(key)
            last = key
            i += 1
            continue
        common = key[:cut + len(delimiter)]
        prefixes.append(common)
        last = common + "\U0010ffff"  # resume past every key under this prefix
        i = bisect.bisect_right(KEYS, last)
    return contents, prefixes, None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        # Headers and body leave in two writes; without this, Nagle plus delayed ACK add 40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        if url.path.strip("/") != bucket or query.get("list-type") != "2":
            return self.reply(404, "<Error><Code>NoSuchKey</Code></Error>")
        start = query.get("continuation-token") or query.get("start-after", "")
        contents, prefixes, next_start = list_page(
            query.get("prefix", ""), query.get("delimiter", ""), start,
            int(query.get("max-keys", "1000")))
        body = ['<?xml version="1.0" encoding="UTF-8"?><ListBucketResult>',
                f"<Name>{bucket}</Name><KeyCount>{len(contents) + len(prefixes)}</KeyCount>",
                f"<IsTruncated>{'true' if next_start else 'false'}</IsTruncated>"]
        if next_start:
            body.append(f"<NextContinuationToken>{escape(next_start)}</NextContinuationToken>")
        for key in contents:
            body.append(f"<Contents><Key>{escape(key)}</Key><Size>100</Size><ETag>{ETAG}</ETag>"
                        "<LastModified>2026-01-01T00:00:00.000Z</LastModified></Contents>")
        for common in prefixes:
            body.append(f"<CommonPrefixes><Prefix>{escape(common)}</Prefix></CommonPrefixes>")
        body.append("</ListBucketResult>")
        self.reply(200, "".join(body))

    def reply(self, status, text):
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
print("ready", flush=True)
server.serve_forever()
