"""The ``rumpy`` command line: one click group, one module per family of commands.

User mistakes end with one line on stderr (``rumpy: error: ...``) and exit code 2.
"""

from __future__ import annotations

import signal
import sys
import threading

import click

from .. import __version__
from ..errors import UserError
from .degrade import degrade
from .eval import evaluate_command
from .export import export_command
from .listing import LIST_KIND_COMMANDS, list_components, plugins
from .pack import pack
from .train import check, train, train_options


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="rumpy", message="%(prog)s %(version)s")
def cli() -> None:
    """rumpy: train and evaluate super-resolution and degradation-regression models.

    Models, datasets, metrics, schedulers and loggers come from plugins; run
    'rumpy list' to see the installed ones with their parameters.
    """


cli.add_command(train)
cli.add_command(check)
cli.add_command(degrade)
cli.add_command(list_components)
for _command in LIST_KIND_COMMANDS:
    cli.add_command(_command)
cli.add_command(plugins)
cli.add_command(pack)
cli.add_command(evaluate_command)
cli.add_command(export_command)


def _describe_os_error(exc: OSError) -> str:
    where = f"{exc.filename}: " if exc.filename is not None else ""
    reason = exc.strerror or " ".join(str(exc).split()) or type(exc).__name__
    return f"{where}{reason}; check the path, its permissions and the free disk space"


def run(command: click.Command, argv: list[str] | None = None, prog_name: str = "rumpy") -> None:
    """Run a click command, turning user errors (and operating-system errors: files that cannot
    be read or written) into one line and exit code 2."""
    if hasattr(signal, "SIGXFSZ") and threading.current_thread() is threading.main_thread():
        # past a file-size limit, fail the write (reported below) instead of being killed mid-write
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    try:
        code = command.main(args=argv, prog_name=prog_name, standalone_mode=False)
    except click.UsageError as exc:
        where = f" {exc.ctx.command_path}" if exc.ctx is not None else ""
        print(f"{prog_name}: error: {exc.format_message()} (see '{where.strip() or prog_name} --help')",
              file=sys.stderr)
        sys.exit(2)
    except click.Abort:
        print(f"{prog_name}: aborted", file=sys.stderr)
        sys.exit(130)
    except UserError as exc:
        print(f"{prog_name}: error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except OSError as exc:
        print(f"{prog_name}: error: {_describe_os_error(exc)}", file=sys.stderr)
        sys.exit(2)
    sys.exit(code or 0)


def main() -> None:
    """Console-script entry point of ``rumpy``."""
    run(cli)


@click.command(name="train_sisr")
@train_options
@click.pass_context
def _train_sisr(ctx: click.Context, **options) -> None:
    """Train a model from a TOML config (the original toolbox's name for 'rumpy train')."""
    ctx.invoke(train, **options)


def train_sisr() -> None:
    """Console-script entry point of ``train_sisr``, an alias of ``rumpy train``."""
    run(_train_sisr, prog_name="train_sisr")


if __name__ == "__main__":
    main()
