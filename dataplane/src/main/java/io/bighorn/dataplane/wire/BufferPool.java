package io.bighorn.dataplane.wire;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Native buffers for request data on the server: sockets read into them and the replica reads from them
 * (and the other way round), so data is never copied through the heap. Requests up to {@link #SLAB}
 * bytes reuse pooled slabs; larger ones get their own buffer, freed by the GC.
 */
final class BufferPool {
    static final int SLAB = 256 << 10;
    private static final int ALIGN = 4096;

    private final Arena arena = Arena.ofAuto();
    private final ConcurrentLinkedQueue<MemorySegment> free = new ConcurrentLinkedQueue<>();
    private final AtomicInteger slabs = new AtomicInteger();
    private final int maxSlabs;

    BufferPool(int maxSlabs) {
        this.maxSlabs = maxSlabs;
    }

    /** A buffer of exactly {@code size} bytes, to be closed when done. */
    Lease acquire(long size) {
        if (size <= SLAB) {
            MemorySegment slab = free.poll();
            if (slab == null && slabs.incrementAndGet() <= maxSlabs) {
                slab = arena.allocate(SLAB, ALIGN);
            } else if (slab == null) {
                slabs.decrementAndGet();
            }
            if (slab != null) {
                return new Lease(slab.asSlice(0, size), slab);
            }
        }
        // an automatic arena: closing a shared one would stop every thread of the JVM for a moment
        return new Lease(Arena.ofAuto().allocate(Math.max(size, 1), ALIGN).asSlice(0, size), null);
    }

    /** Slabs allocated so far: the most pooled buffers that were ever on loan at once. */
    int slabs() {
        return slabs.get();
    }

    /** A buffer on loan. */
    final class Lease implements AutoCloseable {
        private final MemorySegment segment;
        private final MemorySegment slab;

        private Lease(MemorySegment segment, MemorySegment slab) {
            this.segment = segment;
            this.slab = slab;
        }

        MemorySegment segment() {
            return segment;
        }

        @Override
        public void close() {
            if (slab != null) {
                free.offer(slab);
            }
        }
    }
}
