"""``python -m leaderboard``: inspect the store and run admin actions.

    python -m leaderboard submissions [--submitter NAME]
    python -m leaderboard admin rerun|hide|unhide|delete SUBMISSION_ID     (token from DICEPTION_ADMIN_TOKEN)

``delete`` removes the submission, its runs, its scores and its stored files (under ``DICEPTION_SUBMISSIONS_DIR``).

The database is the one the app uses (``DATABASE_URL``, else ``DICEPTION_LEADERBOARD_DB``); ``--database-url``
overrides it.
"""

from __future__ import annotations

import argparse
import os
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m leaderboard", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=None)
    sub = parser.add_subparsers(dest="command", required=True)
    listing = sub.add_parser("submissions", help="list submissions with their status and failure reason")
    listing.add_argument("--submitter", default=None)
    admin = sub.add_parser("admin", help="re-run, hide, unhide or delete a submission and its files (needs the admin "
                                         "token)")
    admin.add_argument("action", choices=["rerun", "hide", "unhide", "delete"])
    admin.add_argument("submission_id", type=int)
    admin.add_argument("--token", default=None, help="default: $DICEPTION_ADMIN_TOKEN")
    args = parser.parse_args(argv)

    from leaderboard.store import Store

    store = Store(args.database_url)
    try:
        if args.command == "submissions":
            frame = store.submissions_frame(args.submitter, include_hidden=True)
            columns = ["submission_id", "name", "submitter", "kind", "status", "attempts", "hidden", "failure_reason"]
            print(frame[columns].to_string(index=False) if len(frame) else "no submissions")
            return 0
        token = args.token or os.environ.get("DICEPTION_ADMIN_TOKEN", "")
        try:
            if args.action == "rerun":
                store.admin_rerun(args.submission_id, token)
            elif args.action in ("hide", "unhide"):
                store.admin_hide(args.submission_id, token, hidden=args.action == "hide")
            else:
                store.admin_delete(args.submission_id, token)
        except PermissionError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        except KeyError:
            print(f"error: no submission {args.submission_id}", file=sys.stderr)
            return 2
        print(f"{args.action}: submission {args.submission_id} done")
        return 0
    finally:
        store.close()


if __name__ == "__main__":
    sys.exit(main())
