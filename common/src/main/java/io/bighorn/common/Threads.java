package io.bighorn.common;

/** Small helpers for threads the code starts and stops itself. */
public final class Threads {
    private Threads() {}

    /** Waits for {@code t} to end; an interrupt meanwhile is kept for the caller, not lost. */
    public static void joinUninterruptibly(Thread t) {
        boolean interrupted = false;
        while (true) {
            try {
                t.join();
                break;
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }
}
