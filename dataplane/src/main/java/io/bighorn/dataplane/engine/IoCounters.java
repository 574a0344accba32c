package io.bighorn.dataplane.engine;

import java.util.concurrent.atomic.LongAdder;

/**
 * Totals of the I/O an engine served since it started: operations, bytes and time spent (from the request
 * reaching the engine to its completion), for reads and writes. Monitoring turns them into rates.
 */
public final class IoCounters {
    /** A reading of the counters. */
    public record Totals(
            long readOps, long readBytes, long readNanos, long writeOps, long writeBytes, long writeNanos) {}

    private final LongAdder readOps = new LongAdder();
    private final LongAdder readBytes = new LongAdder();
    private final LongAdder readNanos = new LongAdder();
    private final LongAdder writeOps = new LongAdder();
    private final LongAdder writeBytes = new LongAdder();
    private final LongAdder writeNanos = new LongAdder();

    void read(long bytes, long startNanos) {
        readOps.increment();
        readBytes.add(bytes);
        readNanos.add(System.nanoTime() - startNanos);
    }

    void write(long bytes, long startNanos) {
        writeOps.increment();
        writeBytes.add(bytes);
        writeNanos.add(System.nanoTime() - startNanos);
    }

    public Totals totals() {
        return new Totals(
                readOps.sum(), readBytes.sum(), readNanos.sum(), writeOps.sum(), writeBytes.sum(), writeNanos.sum());
    }
}
