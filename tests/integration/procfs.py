"""What /proc says of processes, with nothing else imported: the benchmarks in tests/bench
use it too."""


def children(pid):
    """The pids of pid's children (its main thread's), [] once it is gone."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []
