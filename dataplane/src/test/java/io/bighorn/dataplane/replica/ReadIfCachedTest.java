package io.bighorn.dataplane.replica;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assumptions.assumeThat;

import io.bighorn.dataplane.blockdev.OutOfRangeException;
import java.io.IOException;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/** Reads that run on the caller's thread only when the page cache holds their data. */
class ReadIfCachedTest extends SegmentTest {
    private static final long SIZE = 4L << 20;
    private static final int POSIX_FADV_DONTNEED = 4;
    private static final MethodHandle FADVISE = Linker.nativeLinker()
            .downcallHandle(
                    Linker.nativeLinker().defaultLookup().find("posix_fadvise").orElseThrow(),
                    FunctionDescriptor.of(
                            ValueLayout.JAVA_INT,
                            ValueLayout.JAVA_INT,
                            ValueLayout.JAVA_LONG,
                            ValueLayout.JAVA_LONG,
                            ValueLayout.JAVA_INT));

    /** Drops the (clean) cached pages of every layer file of the replica. */
    private static void evict(Path dir) throws Throwable {
        try (Stream<Path> files = Files.walk(dir)) {
            for (Path f : files.filter(p -> p.toString().endsWith(".img")).toList()) {
                try (NativeFile file = NativeFile.open(f, NativeFile.O_RDONLY)) {
                    assertThat((int) FADVISE.invokeExact(file.fd(), 0L, 0L, POSIX_FADV_DONTNEED))
                            .isZero();
                }
            }
        }
    }

    @Test
    void cachedDataIsReadInPlaceAndEvictedDataIsLeftToAThreadThatMayWait() throws Throwable {
        Path dir = tmp.resolve("r");
        assumeThat(Files.getFileStore(tmp).type()).as("tmpfs keeps every page").isNotEqualTo("tmpfs");
        try (Replica r = Replica.create(dir, SIZE)) {
            r.write(1, 0, filled(64 << 10, 1));
            r.snapshot("s1", true, Map.of());
            r.write(1, 8192, filled(4096, 2));
            MemorySegment expected = arena.allocate(128 << 10, 4096);
            r.read(0, expected);

            MemorySegment got = arena.allocate(128 << 10, 4096).fill((byte) 9);
            assertThat(r.readIfCached(0, got)).isTrue();
            assertThat(got.mismatch(expected)).isEqualTo(-1);

            r.flush(); // clean pages, which the kernel lets go of
            evict(dir);
            MemorySegment cold = arena.allocate(128 << 10, 4096);
            assertThat(r.readIfCached(0, cold))
                    .as("evicted pages are not read in place")
                    .isFalse();
            // the endpoint then reads on a thread of its own, and closing it leaves the replica open
            try (LocalReplicaEndpoint endpoint = LocalReplicaEndpoint.borrowing(r, "tcp://127.0.0.1:1")) {
                endpoint.read(0, cold).join();
            }
            assertThat(cold.mismatch(expected)).isEqualTo(-1);
            assertThat(r.readIfCached(0, cold)).as("read once, cached again").isTrue();
        }
    }

    @Test
    void badRangesAndClosedReplicasFailAsReadsDo() throws IOException {
        Replica r = Replica.create(tmp.resolve("r"), SIZE);
        MemorySegment dst = arena.allocate(8192, 4096);
        assertThatThrownBy(() -> r.readIfCached(SIZE - 4096, dst)).isInstanceOf(OutOfRangeException.class);
        LocalReplicaEndpoint endpoint = LocalReplicaEndpoint.borrowing(r, "tcp://127.0.0.1:1");
        assertThat(endpoint.read(SIZE - 4096, dst))
                .failsWithin(java.time.Duration.ofSeconds(10))
                .withThrowableOfType(java.util.concurrent.ExecutionException.class)
                .withCauseInstanceOf(OutOfRangeException.class);
        r.close();
        assertThatThrownBy(() -> r.readIfCached(0, dst)).isInstanceOf(IOException.class);
        assertThat(endpoint.read(0, dst))
                .failsWithin(java.time.Duration.ofSeconds(10))
                .withThrowableOfType(java.util.concurrent.ExecutionException.class)
                .withCauseInstanceOf(IOException.class);
        endpoint.close();
    }
}
