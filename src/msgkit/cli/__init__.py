"""The ``msgkit`` command line (click, with rich tables and progress).

Commands by topic: `msgkit.cli._tools` (measure, phone, phone-key), `msgkit.cli._lists`
(preview, import, lists, delete-list), `msgkit.cli._campaigns` (send, campaigns, the
lifecycle, status, report), `msgkit.cli._run` (worker, serve), `msgkit.cli._demo`.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Sequence

import click

from msgkit.cli._app import cli, console_err
from msgkit.cli._campaigns import register as _campaigns
from msgkit.cli._demo import register as _demo
from msgkit.cli._lists import register as _lists
from msgkit.cli._run import register as _run
from msgkit.cli._tools import register as _tools
from msgkit.exceptions import MsgkitError

__all__ = ["cli", "main"]

for _register in (_demo, _tools, _lists, _campaigns, _run):
    _register(cli)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status.

    Errors are one line (what, where, how to fix) and a non-zero status; ``--verbose``
    adds the traceback.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    verbose = "--verbose" in args or "-v" in args
    try:
        status = cli.main(args=args, prog_name="msgkit", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.Abort:
        console_err.print("msgkit: interrupted")
        return 130
    except (MsgkitError, OSError) as exc:
        if verbose:
            traceback.print_exc()
        console_err.print(f"msgkit: error: {exc}", markup=False, highlight=False, soft_wrap=True)
        return 1
    except KeyboardInterrupt:
        console_err.print("msgkit: interrupted; run the same command again to resume")
        return 130
    return status if isinstance(status, int) else 0
