package io.bighorn.dataplane.replica;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.BitSet;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.junit.jupiter.api.Test;

/** An in-process endpoint whose replica stalls: what the engine may rely on once it gives up on a call. */
class LocalReplicaEndpointTest extends SegmentTest {
    private static final long SIZE = 4L << 20;
    private static final Duration WAIT = Duration.ofSeconds(30);

    @Test
    void aReadGivenUpOnNeverWritesIntoTheCallersBufferAfter() throws Exception {
        try (Replica r = Replica.create(tmp.resolve("r"), SIZE);
                LocalReplicaEndpoint endpoint = LocalReplicaEndpoint.borrowing(r, "tcp://127.0.0.1:1")) {
            r.write(1, 0, filled(8192, 7));
            MemorySegment dst = filled(8192, 0x55);
            CompletableFuture<Void> read;
            try (AutoCloseable stalled = r.pauseIo()) {
                read = endpoint.read(0, dst);
                assertThat(read).isNotDone();
                // the engine's timeout; the buffer is the engine's again from here on
                assertThat(read.completeExceptionally(new TimeoutException())).isTrue();
            }
            await().atMost(WAIT).until(() -> endpoint.running() == 0); // the late read ran
            assertThat(dst.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE)).containsOnly(0x55);
            // the endpoint still works
            assertThat(endpoint.read(0, dst)).succeedsWithin(WAIT);
            assertThat(dst.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE)).containsOnly(7);
        }
    }

    @Test
    void closingDoesNotWaitForAStalledCallAndFailsIt() throws Exception {
        try (Replica r = Replica.create(tmp.resolve("r"), SIZE)) {
            LocalReplicaEndpoint endpoint = LocalReplicaEndpoint.borrowing(r, "tcp://127.0.0.1:1");
            MemorySegment dst = filled(1 << 20, 0x55); // the paused replica sends it to a thread
            CompletableFuture<Void> read;
            CompletableFuture<Void> write;
            try (AutoCloseable stalled = r.pauseIo()) {
                read = endpoint.read(0, dst);
                write = endpoint.write(1, 0, filled(4096, 3));
                CompletableFuture.runAsync(endpoint::close).get(30, TimeUnit.SECONDS);
                for (CompletableFuture<Void> f : java.util.List.of(read, write)) {
                    assertThat(f)
                            .failsWithin(WAIT)
                            .withThrowableOfType(ExecutionException.class)
                            .withCauseInstanceOf(IOException.class)
                            .withMessageContaining("endpoint closed");
                }
                assertThat(endpoint.read(0, filled(4096, 0)))
                        .failsWithin(WAIT)
                        .withThrowableOfType(ExecutionException.class)
                        .withMessageContaining("endpoint closed");
            }
            await().atMost(WAIT).until(() -> endpoint.running() == 0);
            assertThat(dst.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE)).containsOnly(0x55);
            // a borrowed endpoint leaves the replica open
            MemorySegment back = arena.allocate(4096, 4096);
            r.read(0, back);
            assertThat(back.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE)).containsOnly(3);
        }
    }

    @Test
    void readLayerIntoFillsTheHeldBlocksAndLeavesTheRest() throws Exception {
        try (Replica r = Replica.create(tmp.resolve("r"), SIZE);
                LocalReplicaEndpoint endpoint = LocalReplicaEndpoint.borrowing(r, "tcp://127.0.0.1:1")) {
            r.write(1, 4096, filled(4096, 1));
            r.write(1, 3 * 4096, filled(4096, 2));
            r.snapshot("s1", true, Map.of());
            BitSet wanted = new BitSet();
            wanted.set(0, 3); // block 3 is held but not wanted
            MemorySegment dst = filled(4 * 4096, 9);
            BitSet held = endpoint.readLayerInto("s1", 0, 4, wanted, dst).get(30, TimeUnit.SECONDS);
            assertThat(held.stream().boxed().toList()).containsExactly(1);
            for (int b = 0; b < 4; b++) {
                byte[] block = dst.asSlice(b * 4096L, 4096).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
                assertThat(block).as("block %d", b).containsOnly(b == 1 ? 1 : 9);
            }
        }
    }
}
