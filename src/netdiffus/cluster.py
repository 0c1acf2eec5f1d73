"""Tasks on a Dask cluster: connect to a scheduler (or start a local cluster) and run tasks on it.

The engine-specific part of ``prepare --cluster``: :func:`cluster_client` opens a client, on a
running scheduler (``tcp://host:8786``) or on a local cluster of worker processes it starts and
stops (``"local"``); :func:`require_package` refuses workers that run another version of a
package; :func:`run_tasks` submits one task per argument tuple and yields each result
with its index as it completes, so that the caller places results by index and the order of its
output never depends on which worker finished first. Nothing here reads data.

dask.distributed is an optional extra (``pip install 'netdiffus[cluster]'``), imported only by
these functions, only when a cluster is asked for; without it they raise a one-line
:class:`~netdiffus.errors.ConfigError` that says what to install.

Examples
--------
>>> from netdiffus.cluster import cluster_client, run_tasks
>>> with cluster_client(address="local", n_workers=2) as client:             # doctest: +SKIP
...     sorted(run_tasks(client, pow, [(2, 3), (3, 2)]))
[(0, 8), (1, 9)]
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from types import ModuleType
from typing import Any

from netdiffus.errors import ConfigError

__all__ = ["LOCAL", "DEFAULT_CONNECT_TIMEOUT_S", "cluster_client", "cluster_threads", "require_package", "run_tasks"]

log = logging.getLogger(__name__)

#: The address that starts a local cluster of worker processes instead of connecting to one.
LOCAL = "local"
#: Seconds to wait for a scheduler to answer before giving up.
DEFAULT_CONNECT_TIMEOUT_S = 10.0
INSTALL_HINT = "pip install 'netdiffus[cluster]'"


def _distributed() -> ModuleType:
    """The ``distributed`` module, or a one-line error naming the extra to install."""
    try:
        import distributed
    except ImportError:
        raise ConfigError(f"--cluster / cluster needs dask.distributed, not installed: {INSTALL_HINT}") from None
    return distributed


@contextmanager
def cluster_client(*, address: str, n_workers: int = 1,
                   timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S) -> Iterator[Any]:
    """A ``distributed.Client`` on the scheduler at ``address``, closed on exit.

    Parameters
    ----------
    address : str
        A scheduler address (``tcp://10.0.0.5:8786``, ``10.0.0.5:8786``), or ``"local"``: start a
        cluster of ``n_workers`` worker processes on this machine (one thread each; stopped on
        exit).
    n_workers : int
        ``"local"`` only: worker processes (``0``: one per CPU core).
    timeout_s : float
        Seconds to wait for the scheduler (or the local cluster) to answer.

    Raises
    ------
    ConfigError
        dask.distributed is not installed, or the scheduler cannot be reached (one line naming the
        address and the reason).
    """
    distributed = _distributed()
    cluster = None
    try:
        if address == LOCAL:
            n = n_workers or os.cpu_count() or 1
            # worker logs below errors stay in the workers; a capture's warnings come back with its result
            cluster = distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                               dashboard_address=":0", silence_logs=logging.ERROR)  # any free port
            client = distributed.Client(cluster, timeout=timeout_s)
        else:
            client = distributed.Client(address, timeout=timeout_s)
    except (OSError, ValueError, TimeoutError) as exc:
        if cluster is not None:
            cluster.close()
        reason = " ".join(str(exc).split()) or type(exc).__name__
        what = ("cannot start the local cluster" if address == LOCAL
                else f"{address!r} is not a scheduler address" if isinstance(exc, ValueError)
                else f"cannot reach the scheduler at {address!r}")
        raise ConfigError(f"--cluster / cluster: {what} ({reason})") from None
    log.info("cluster %s: %d worker(s), %d thread(s)", address, len(client.nthreads()), cluster_threads(client))
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def cluster_threads(client: Any) -> int:
    """Threads of all the workers of ``client``'s cluster (at least 1): how many tasks run at once."""
    return max(1, sum(client.nthreads().values()))


def require_package(client: Any, *, package: str, version: str) -> None:
    """Refuse a cluster whose workers do not all import ``package`` at ``version``.

    Raises
    ------
    ConfigError
        One line: how many workers differ, the first of them and its version (or that the package
        is missing there).
    """
    workers = client.get_versions(packages=[package])["workers"]
    wrong = sorted((addr, info["packages"].get(package)) for addr, info in workers.items()
                   if info["packages"].get(package) != version)
    if wrong:
        addr, found = wrong[0]
        raise ConfigError(f"--cluster / cluster: {len(wrong)} of {len(workers)} worker(s) have {package} "
                          f"{found or 'not installed'} (first: {addr}), this process {version}: install {package} "
                          f"{version} on every worker")


def run_tasks(client: Any, fn: Callable[..., Any], tasks: Sequence[tuple[Any, ...]], *,
              shared: tuple[Any, ...] = ()) -> Iterator[tuple[int, Any]]:
    """``(k, fn(*tasks[k], *shared))`` for every task, in the order they complete.

    ``shared`` is sent to every worker once (not once per task). ``fn`` must be importable by the
    workers (a module-level function of a package they have installed). A result is released on
    the cluster once yielded; the tasks not yet done are cancelled if the caller stops early (an
    error, Ctrl-C).
    """
    distributed = _distributed()
    args = client.scatter(list(shared), broadcast=True) if shared else []
    futures = {client.submit(fn, *task, *args, pure=False): k for k, task in enumerate(tasks)}
    try:
        for fut in distributed.as_completed(list(futures)):
            result = fut.result()
            yield futures.pop(fut), result
            fut.release()
    finally:
        if futures:
            client.cancel(list(futures))
