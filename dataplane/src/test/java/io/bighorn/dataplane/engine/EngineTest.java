package io.bighorn.dataplane.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.bighorn.dataplane.blockdev.NoSpaceException;
import io.bighorn.dataplane.blockdev.OutOfRangeException;
import io.bighorn.dataplane.replica.LocalReplicaEndpoint;
import io.bighorn.dataplane.replica.Replica;
import io.bighorn.dataplane.replica.ReplicaEndpoint;
import io.bighorn.dataplane.replica.SnapshotException;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class EngineTest {
    private static final long SIZE = 4L << 20;
    private static final Clock CLOCK = Clock.fixed(Instant.parse("2026-11-22T12:00:00Z"), ZoneOffset.UTC);

    @TempDir
    Path tmp;

    private final Arena arena = Arena.ofShared();
    private final List<Replica> replicas = new ArrayList<>();
    private final List<AutoCloseable> toClose = new ArrayList<>();

    @AfterEach
    void closeAll() throws Exception {
        for (AutoCloseable c : toClose.reversed()) {
            c.close();
        }
        for (Replica r : replicas) {
            r.close();
        }
        arena.close();
    }

    private List<FaultyEndpoint> endpoints(int n) throws IOException {
        List<FaultyEndpoint> list = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            Replica r = Replica.create(tmp.resolve("r" + i), SIZE);
            replicas.add(r);
            list.add(new FaultyEndpoint(new LocalReplicaEndpoint(r)));
        }
        return list;
    }

    private Engine start(List<? extends ReplicaEndpoint> endpoints, Duration timeout) throws IOException {
        Engine engine = Engine.start("vol0", SIZE, List.copyOf(endpoints), timeout, CLOCK);
        toClose.add(engine);
        return engine;
    }

    private MemorySegment random(int length, long seed) {
        byte[] b = new byte[length];
        new Random(seed).nextBytes(b);
        return arena.allocate(length, 4096).copyFrom(MemorySegment.ofArray(b));
    }

    private byte[] read(io.bighorn.dataplane.blockdev.BlockDevice d, long offset, int length) throws IOException {
        MemorySegment buf = arena.allocate(length, 4096);
        d.read(offset, buf);
        return buf.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
    }

    /** A write through the blocking call or the asynchronous one (the NBD server's hot path). */
    private static void write(Engine engine, long offset, MemorySegment data, boolean fua, boolean async)
            throws IOException {
        if (!async) {
            engine.write(offset, data, fua);
            return;
        }
        join(engine.writeAsync(offset, data, fua));
    }

    private byte[] read(Engine engine, long offset, int length, boolean async) throws IOException {
        if (!async) {
            return read(engine, offset, length);
        }
        MemorySegment buf = arena.allocate(length, 4096);
        join(engine.readAsync(offset, buf));
        return bytes(buf);
    }

    private static void join(CompletableFuture<Void> f) throws IOException {
        try {
            f.join();
        } catch (CompletionException e) {
            switch (e.getCause()) {
                case IOException io -> throw io;
                case RuntimeException re -> throw re;
                default -> throw e;
            }
        }
    }

    private static byte[] bytes(MemorySegment s) {
        return s.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
    }

    private byte[] readReplica(Replica r, long offset, int length) throws IOException {
        MemorySegment buf = arena.allocate(length, 4096);
        r.read(offset, buf);
        return bytes(buf);
    }

    @ParameterizedTest(name = "async {0}")
    @ValueSource(booleans = {false, true})
    void writesReachEveryReplicaAndTheEpochIsPersisted(boolean async) throws IOException {
        Engine engine = start(endpoints(3), Duration.ofSeconds(8));
        assertThat(engine.epoch()).isEqualTo(1);
        MemorySegment data = random(64 * 1024, 1);
        write(engine, 8192, data, true, async);
        if (async) {
            join(engine.trimAsync(8192, 4096));
            join(engine.flushAsync());
            join(engine.writeZeroesAsync(SIZE - 4096, 4096, true));
        } else {
            engine.trim(8192, 4096);
            engine.flush();
            engine.writeZeroes(SIZE - 4096, 4096, true);
        }
        for (Replica r : replicas) {
            byte[] got = readReplica(r, 8192, 64 * 1024);
            assertThat(got).startsWith(new byte[4096]);
            assertThat(java.util.Arrays.copyOfRange(got, 4096, got.length))
                    .isEqualTo(java.util.Arrays.copyOfRange(bytes(data), 4096, got.length));
            assertThat(r.epoch()).isEqualTo(1);
            assertThat(r.revision()).as("a write, a trim and a write-zeroes").isEqualTo(3);
        }
        assertThat(engine.info().replicas()).extracting(ReplicaState::mode).containsOnly(Mode.RW);
    }

    @ParameterizedTest(name = "async {0}")
    @ValueSource(booleans = {false, true})
    void aFailingReplicaBecomesErrAndTheVolumeKeepsServing(boolean async) throws IOException {
        List<FaultyEndpoint> eps = endpoints(3);
        Engine engine = start(eps, Duration.ofSeconds(8));
        eps.get(1).failWith(new IOException("disk gone"));
        MemorySegment data = random(4096, 2);
        write(engine, 0, data, false, async);
        assertThat(engine.info().replicas().get(1).mode()).isEqualTo(Mode.ERR);
        assertThat(engine.info().replicas().get(1).reason()).isEqualTo("disk gone");
        assertThat(eps.get(1).closed).isTrue();
        int callsBefore = eps.get(1).calls.get();
        write(engine, 4096, data, false, async);
        assertThat(eps.get(1).calls.get()).as("an ERR replica gets no more I/O").isEqualTo(callsBefore);
        assertThat(read(engine, 0, 4096, async)).isEqualTo(bytes(data));
    }

    @ParameterizedTest(name = "async {0}")
    @ValueSource(booleans = {false, true})
    void aReplicaThatDoesNotAnswerTimesOutToErr(boolean async) throws IOException {
        List<FaultyEndpoint> eps = endpoints(2);
        Engine engine = start(eps, Duration.ofMillis(300));
        eps.get(0).hang();
        write(engine, 0, random(4096, 3), false, async);
        ReplicaState state = engine.info().replicas().getFirst();
        assertThat(state.mode()).isEqualTo(Mode.ERR);
        assertThat(state.reason()).contains("timeout");
    }

    @ParameterizedTest(name = "async {0}")
    @ValueSource(booleans = {false, true})
    void readsMoveOnToAnotherReplicaOnError(boolean async) throws IOException {
        List<FaultyEndpoint> eps = endpoints(2);
        Engine engine = start(eps, Duration.ofSeconds(8));
        MemorySegment data = random(8192, 4);
        write(engine, 0, data, false, async);
        eps.get(0).failWith(new IOException("bad sector"));
        eps.get(1).failWith(null);
        for (int i = 0; i < 4; i++) {
            assertThat(read(engine, 0, 8192, async)).isEqualTo(bytes(data));
        }
        assertThat(engine.info().replicas().get(0).mode()).isEqualTo(Mode.ERR);
    }

    @ParameterizedTest(name = "async {0}")
    @ValueSource(booleans = {false, true})
    void withNoHealthyReplicaLeftIoFails(boolean async) throws IOException {
        List<FaultyEndpoint> eps = endpoints(2);
        Engine engine = start(eps, Duration.ofSeconds(8));
        eps.forEach(e -> e.failWith(new IOException("gone")));
        assertThatThrownBy(() -> write(engine, 0, random(4096, 5), false, async))
                .isInstanceOf(NoHealthyReplicaException.class)
                .hasMessageContaining("no healthy replica");
        assertThatThrownBy(() -> read(engine, 0, 4096, async)).isInstanceOf(NoHealthyReplicaException.class);
    }

    @ParameterizedTest(name = "async {0}")
    @ValueSource(booleans = {false, true})
    void whenEveryReplicaIsFullTheClientGetsEnospcAndNothingFails(boolean async) throws IOException {
        List<FaultyEndpoint> eps = endpoints(2);
        Engine engine = start(eps, Duration.ofSeconds(8));
        eps.forEach(e -> e.failWith(new NoSpaceException("no space left on device")));
        assertThatThrownBy(() -> write(engine, 0, random(4096, 6), false, async))
                .isInstanceOf(NoSpaceException.class);
        assertThat(engine.info().replicas()).extracting(ReplicaState::mode).containsOnly(Mode.RW);
        eps.forEach(e -> e.failWith(null)); // space freed
        write(engine, 0, random(4096, 6), false, async);
    }

    @ParameterizedTest(name = "async {0}")
    @ValueSource(booleans = {false, true})
    void outOfRangeIsRefusedBeforeAnyReplicaIsAsked(boolean async) throws IOException {
        List<FaultyEndpoint> eps = endpoints(2);
        Engine engine = start(eps, Duration.ofSeconds(8));
        assertThatThrownBy(() -> write(engine, SIZE, random(4096, 7), false, async))
                .isInstanceOf(OutOfRangeException.class);
        assertThatThrownBy(() -> engine.trim(100, 512)).isInstanceOf(OutOfRangeException.class);
        assertThat(eps.get(0).calls.get()).isZero();
    }

    @Test
    void aSecondEngineFencesTheFirst() throws IOException {
        List<FaultyEndpoint> eps = endpoints(2);
        Engine first = start(eps, Duration.ofSeconds(8));
        first.write(0, random(4096, 8), false);
        List<ReplicaEndpoint> again = new ArrayList<>();
        for (Replica r : replicas) {
            again.add(new FaultyEndpoint(new LocalReplicaEndpoint(r)));
        }
        Engine second = start(again, Duration.ofSeconds(8));
        assertThat(second.epoch()).isEqualTo(2);
        assertThatThrownBy(() -> first.write(0, random(4096, 9), false))
                .isInstanceOf(NoHealthyReplicaException.class)
                .hasMessageContaining("fenced by a newer engine");
        MemorySegment data = random(4096, 10);
        second.write(0, data, false);
        assertThat(read(second, 0, 4096)).isEqualTo(bytes(data));
    }

    @Test
    void replicasBehindTheBestStartInErr() throws IOException {
        List<FaultyEndpoint> eps = endpoints(3);
        replicas.get(0).write(0, 0, random(4096, 11));
        replicas.get(0).write(0, 4096, random(4096, 12));
        replicas.get(1).write(0, 0, random(4096, 11));
        Engine engine = start(eps, Duration.ofSeconds(8));
        List<ReplicaState> states = engine.info().replicas();
        assertThat(states.get(0).mode()).isEqualTo(Mode.RW);
        assertThat(states.get(1).mode()).isEqualTo(Mode.ERR);
        assertThat(states.get(1).reason()).contains("revision 1 is behind 2");
        assertThat(states.get(2).mode()).isEqualTo(Mode.ERR);
    }

    @Test
    void snapshotsAreTakenEverywhereWithOneNameAndTime() throws IOException {
        Engine engine = start(endpoints(3), Duration.ofSeconds(8));
        engine.write(0, random(4096, 13), false);
        engine.snapshot("s1", true, Map.of("k", "v"));
        for (Replica r : replicas) {
            assertThat(r.snapshots()).singleElement().satisfies(s -> {
                assertThat(s.name()).isEqualTo("s1");
                assertThat(s.created()).isEqualTo(CLOCK.instant());
                assertThat(s.labels()).containsEntry("k", "v");
            });
        }
        assertThatThrownBy(() -> engine.snapshot("s1", true, Map.of()))
                .isInstanceOf(SnapshotException.class)
                .hasMessageContaining("already exists");
        assertThatThrownBy(() -> engine.snapshot("Bad Name", true, Map.of()))
                .hasMessageContaining("invalid snapshot name");
        assertThat(engine.info().replicas()).extracting(ReplicaState::mode).containsOnly(Mode.RW);
        assertThat(engine.snapshots()).extracting(s -> s.name()).containsExactly("s1");
    }

    @Test
    void revertWaitsForTheFrontendToBeEmptyAndExpandGrowsOnline() throws IOException {
        Engine engine = start(endpoints(2), Duration.ofSeconds(8));
        MemorySegment before = random(4096, 14);
        engine.write(0, before, false);
        engine.snapshot("s1", true, Map.of());
        engine.write(0, random(4096, 15), false);
        int[] clients = {1};
        engine.frontendClients(() -> clients[0]);
        assertThatThrownBy(() -> engine.revert("s1"))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("1 frontend client(s) are connected");
        clients[0] = 0;
        engine.revert("s1");
        assertThat(read(engine, 0, 4096)).isEqualTo(bytes(before));
        engine.expand(2 * SIZE);
        assertThat(engine.size()).isEqualTo(2 * SIZE);
        engine.write(2 * SIZE - 4096, random(4096, 16), false);
        for (Replica r : replicas) {
            assertThat(r.size()).isEqualTo(2 * SIZE);
        }
        assertThatThrownBy(() -> engine.expand(SIZE)).hasMessageContaining("cannot shrink");
        engine.deleteSnapshot("s1");
        assertThat(engine.purge()).isNotNull();
    }
}
