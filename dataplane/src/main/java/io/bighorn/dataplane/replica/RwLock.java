package io.bighorn.dataplane.replica;

import java.util.concurrent.locks.Lock;
import java.util.concurrent.locks.StampedLock;

/**
 * A non-reentrant read-write lock for the I/O path: a {@link StampedLock} seen through its {@link Lock}
 * views. Cheaper than {@code ReentrantReadWriteLock}, which keeps per-thread hold counts on every read
 * acquisition. No holder may take it again.
 */
final class RwLock {
    private final StampedLock lock = new StampedLock();
    private final Lock read = lock.asReadLock();
    private final Lock write = lock.asWriteLock();

    Lock readLock() {
        return read;
    }

    Lock writeLock() {
        return write;
    }
}
