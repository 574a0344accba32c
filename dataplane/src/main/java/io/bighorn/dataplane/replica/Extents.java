package io.bighorn.dataplane.replica;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/** Walks and copies the allocated extents of sparse files with SEEK_DATA / SEEK_HOLE. */
final class Extents {
    private static final int COPY_BUFFER = 1 << 20;

    private Extents() {}

    @FunctionalInterface
    interface Consumer {
        void accept(long from, long to) throws IOException;
    }

    /** Calls {@code consumer} for each data extent of {@code file}, clipped to {@code [0, limit)}. */
    static void forEach(NativeFile file, long limit, Consumer consumer) throws IOException {
        forEach(file, 0, limit, consumer);
    }

    /** Calls {@code consumer} for each data extent of {@code file} within {@code [from, limit)}, clipped. */
    static void forEach(NativeFile file, long from, long limit, Consumer consumer) throws IOException {
        long pos = from;
        while (pos < limit) {
            long data = file.nextData(pos);
            if (data < 0 || data >= limit) {
                return;
            }
            long hole = file.nextHole(data);
            long end = hole < 0 ? limit : Math.min(hole, limit);
            consumer.accept(Math.max(data, from), end);
            pos = end;
        }
    }

    /** Copies every data extent of {@code src} to the same offsets of {@code dst}; holes stay holes. */
    static void copyData(NativeFile src, NativeFile dst) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buf = arena.allocate(COPY_BUFFER, Replica.BLOCK);
            forEach(src, Long.MAX_VALUE, (from, to) -> copy(src, dst, from, to, buf));
        }
    }

    /** Copies the data extents of {@code src} into {@code dst} only where {@code dst} has a hole. */
    static void copyIntoHoles(NativeFile src, NativeFile dst) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buf = arena.allocate(COPY_BUFFER, Replica.BLOCK);
            forEach(src, Long.MAX_VALUE, (from, to) -> {
                long pos = from;
                while (pos < to) {
                    long data = dst.nextData(pos);
                    if (data < 0 || data >= to) {
                        copy(src, dst, pos, to, buf);
                        return;
                    }
                    if (data > pos) {
                        copy(src, dst, pos, data, buf);
                    }
                    long hole = dst.nextHole(data);
                    pos = hole < 0 ? to : hole;
                }
            });
        }
    }

    private static void copy(NativeFile src, NativeFile dst, long from, long to, MemorySegment buf) throws IOException {
        for (long pos = from; pos < to; pos += buf.byteSize()) {
            MemorySegment part = buf.asSlice(0, Math.min(buf.byteSize(), to - pos));
            long n = src.read(part, pos);
            if (n < part.byteSize()) {
                part.asSlice(n).fill((byte) 0);
            }
            dst.write(part, pos);
        }
    }
}
