package io.bighorn.dataplane.replica;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.io.TempDir;

/** What the replica's I/O tests share: a scratch directory and native buffers freed after each test. */
abstract class SegmentTest {
    @TempDir
    Path tmp;

    /** Shared: some tests hand buffers to other threads. */
    final Arena arena = Arena.ofShared();

    @AfterEach
    void closeArena() {
        arena.close();
    }

    /** A 4 KiB-aligned native buffer of {@code length} bytes, each {@code value}. */
    MemorySegment filled(int length, int value) {
        return arena.allocate(length, 4096).fill((byte) value);
    }
}
