package io.bighorn.dataplane.replica;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * Named crash points for the crash tests. A test starts a child JVM with {@code -Dbighorn.crashAt=POINT}
 * (and optionally {@code -Dbighorn.crashAtHit=N}); when the child reaches that point for the N-th time it
 * prints {@code CRASH-POINT POINT} and stops there until the test kills it with SIGKILL. Without the
 * property every call is a single static check.
 */
final class Faults {
    private static final String POINT = System.getProperty("bighorn.crashAt");
    private static final int HIT = Integer.getInteger("bighorn.crashAtHit", 1);
    private static final AtomicInteger HITS = new AtomicInteger();

    private Faults() {}

    static void at(String point) {
        if (POINT == null || !point.startsWith(POINT)) {
            return;
        }
        if (HITS.incrementAndGet() != HIT) {
            return;
        }
        System.out.println("CRASH-POINT " + point);
        System.out.flush();
        while (true) {
            LockSupport.park();
        }
    }
}
