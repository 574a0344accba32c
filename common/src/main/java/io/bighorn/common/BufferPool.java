package io.bighorn.common;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Reusable native buffers for request data, shared by every connection of a server (the NBD server's
 * requests, the replica server's). Sizes are rounded up
 * to a power of two from 4 KiB; each size class keeps up to {@code bytesPerClass} of idle buffers. Buffers
 * come from an automatic arena, so one the pool does not keep is freed by the GC: no request ever closes
 * a shared arena (which stops every thread of the JVM for a moment), and no buffer is zeroed twice.
 * Any thread may use a buffer, as {@code BlockDevice} requires.
 */
public final class BufferPool {
    private static final int MIN_SHIFT = 12;
    private static final int MAX_SHIFT = 25; // 32 MiB, the largest request the server accepts
    private static final int ALIGN = 4096;

    private final Arena arena = Arena.ofAuto();
    private final List<ConcurrentLinkedQueue<MemorySegment>> free = new ArrayList<>();
    private final AtomicInteger[] idle;
    private final int[] keep;
    private final AtomicInteger onLoan = new AtomicInteger();
    private final AtomicInteger peak = new AtomicInteger();

    /** Keeps up to {@code bytesPerClass} of idle buffers in each size class. */
    public BufferPool(long bytesPerClass) {
        int classes = MAX_SHIFT - MIN_SHIFT + 1;
        idle = new AtomicInteger[classes];
        keep = new int[classes];
        for (int c = 0; c < classes; c++) {
            free.add(new ConcurrentLinkedQueue<>());
            idle[c] = new AtomicInteger();
            keep[c] = (int) Math.max(2, bytesPerClass >> (MIN_SHIFT + c));
        }
    }

    /** A buffer of exactly {@code size} bytes (at most 32 MiB); close the lease to give it back. */
    public Lease acquire(long size) {
        int c = sizeClass(size);
        MemorySegment buffer = free.get(c).poll();
        if (buffer != null) {
            idle[c].decrementAndGet();
        } else {
            buffer = arena.allocate(1L << (MIN_SHIFT + c), ALIGN);
        }
        int loaned = onLoan.incrementAndGet();
        if (loaned > peak.get()) {
            peak.accumulateAndGet(loaned, Math::max);
        }
        return new Lease(buffer, c, size);
    }

    /** The most buffers that were ever on loan at once. */
    public int peakOnLoan() {
        return peak.get();
    }

    private static int sizeClass(long size) {
        if (size < 0 || size > (1L << MAX_SHIFT)) {
            throw new IllegalArgumentException("buffer of " + size + " bytes");
        }
        int shift = Math.max(MIN_SHIFT, 64 - Long.numberOfLeadingZeros(Math.max(size, 1) - 1));
        return shift - MIN_SHIFT;
    }

    /** A buffer on loan. */
    public final class Lease implements AutoCloseable {
        private final MemorySegment buffer;
        private final int sizeClass;
        private final MemorySegment segment;
        private final AtomicBoolean returned = new AtomicBoolean();

        private Lease(MemorySegment buffer, int sizeClass, long size) {
            this.buffer = buffer;
            this.sizeClass = sizeClass;
            this.segment = buffer.asSlice(0, size);
        }

        public MemorySegment segment() {
            return segment;
        }

        /** Gives the buffer back; closing twice is harmless. */
        @Override
        public void close() {
            if (!returned.compareAndSet(false, true)) {
                return;
            }
            onLoan.decrementAndGet();
            if (idle[sizeClass].incrementAndGet() <= keep[sizeClass]) {
                free.get(sizeClass).offer(buffer);
            } else {
                idle[sizeClass].decrementAndGet(); // dropped: the GC frees it
            }
        }
    }
}
