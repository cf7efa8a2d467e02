"""Serve engage with waitress: ``python run.py [--host H] [--port P] [--hub] [--instance DIR]``."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path


def main(argv: list[str] | None = None) -> None:
    from engage.serve import DEFAULT_THREADS, bind, default_processes, run

    parser = argparse.ArgumentParser(description="Serve engage on this laptop.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=5000, help="port to listen on")
    parser.add_argument("--hub", action="store_true", help="run as the coordinators' hub")
    parser.add_argument("--instance", help="instance folder (default: ./instance)")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS,
                        help=f"worker threads per process (default: {DEFAULT_THREADS})")
    parser.add_argument(
        "--processes",
        type=int,
        default=default_processes(),
        help="server processes (default: one per core and one more, up to four)",
    )
    args = parser.parse_args(argv)

    instance = Path(args.instance or Path(__file__).resolve().parent / "instance").resolve()
    os.environ["ENGAGE_INSTANCE"] = str(instance)

    from engage import create_app
    from engage.db import connect, migrate

    app = create_app()  # makes the instance folder and its secret key, once, here
    database = connect(app.config["DATABASE"])
    migrate(database)  # create or upgrade the database before the first visitor
    database.close()
    if args.hub:
        from engage.sync import keys

        keys.hub_keys(instance)  # made here, once, not by two workers at the same moment

    sock = bind(args.host, args.port)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("engage").info(
        "engage is serving http://%s:%s/ from %s (%s processes)",
        args.host, args.port, instance, args.processes,
    )
    print(f"engage: open http://{args.host}:{args.port}/ in a browser", flush=True)
    try:
        run(sock, instance=str(instance), hub=args.hub, threads=args.threads,
            processes=args.processes)
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()


if __name__ == "__main__":
    main()
