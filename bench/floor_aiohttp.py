"""The network floor: plain aiohttp GETs of the same URLs with the same limits, one JSON line out.

    python bench/floor_aiohttp.py JOB_JSON

JOB_JSON: {"urls": [...], "concurrency": C, "per_host": P, "validators_in": path or null,
"validators_out": path or null}. One ClientSession, TCPConnector(limit=C, limit_per_host=P),
every body read in full (gzip inflated). With validators_in, each request carries the ETag and
Last-Modified saved by an earlier run (validators_out) as If-None-Match/If-Modified-Since: the
conditional-GET floor for a warm poll. Nothing is parsed or stored.
"""

from __future__ import annotations

import asyncio
import collections
import json
import sys
import time

import aiohttp

from procstats import cpu_seconds, peak_rss_mb


async def poll(job: dict) -> dict:
    validators = {}
    if job.get("validators_in"):
        with open(job["validators_in"], encoding="utf-8") as f:
            validators = json.load(f)
    statuses: collections.Counter[int] = collections.Counter()
    saved: dict[str, dict[str, str]] = {}
    size = 0
    connector = aiohttp.TCPConnector(limit=job["concurrency"], limit_per_host=job["per_host"])
    c0, t0 = cpu_seconds(), time.perf_counter()
    async with aiohttp.ClientSession(connector=connector) as session:

        async def get(url: str) -> None:
            nonlocal size
            headers = {}
            v = validators.get(url, {})
            if v.get("etag"):
                headers["If-None-Match"] = v["etag"]
            if v.get("last_modified"):
                headers["If-Modified-Since"] = v["last_modified"]
            async with session.get(url, headers=headers) as response:
                body = await response.read()
                size += len(body)
                statuses[response.status] += 1
                saved[url] = {
                    "etag": response.headers.get("ETag", ""),
                    "last_modified": response.headers.get("Last-Modified", ""),
                }

        await asyncio.gather(*(get(u) for u in job["urls"]))
    seconds = time.perf_counter() - t0
    cpu = cpu_seconds() - c0
    if job.get("validators_out"):
        with open(job["validators_out"], "w", encoding="utf-8") as f:
            json.dump(saved, f)
    return {"seconds": seconds, "cpu_seconds": cpu, "statuses": dict(statuses), "bytes": size}


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as f:
        job = json.load(f)
    result = asyncio.run(poll(job))
    result["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
