"""pypool GATE: a multiprocessing.Pool of 4 workers (fork start method:
pipes, threads in the parent, POSIX semaphores in /dev/shm whose names are
unlinked at once) that prints "ready", waits for GATE to exist, then maps
a SHA-256 chain over 64 inputs and prints "result" and the digest of all
the answers.  e2e/migrate-tree-apps migrates it before the gate opens."""
import hashlib
import multiprocessing as mp
import os
import sys
import time


def work(i):
    h = hashlib.sha256(str(i).encode())
    for _ in range(20000):
        h = hashlib.sha256(h.digest())
    return h.hexdigest()


if __name__ == "__main__":
    gate = sys.argv[1]
    mp.set_start_method("fork")
    with mp.Pool(4) as pool:
        print("ready", flush=True)
        # The Pool's own threads poll this way too: a wait, not a clock.
        while not os.path.exists(gate):
            time.sleep(0.01)
        answers = pool.map(work, range(64))
    print("result", hashlib.sha256("".join(answers).encode()).hexdigest(), flush=True)
