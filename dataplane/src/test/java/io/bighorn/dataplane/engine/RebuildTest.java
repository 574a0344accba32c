package io.bighorn.dataplane.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.bighorn.dataplane.replica.LocalReplicaEndpoint;
import io.bighorn.dataplane.replica.Replica;
import io.bighorn.dataplane.replica.ReplicaInfo;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Adding a replica to a live volume: the copy, the writes during it, and the replica's end state. */
class RebuildTest {
    private static final long SIZE = 16L << 20;
    private static final Duration TIMEOUT = Duration.ofSeconds(20);

    @TempDir
    Path tmp;

    private final Arena arena = Arena.ofShared();
    private final List<Replica> replicas = new ArrayList<>();
    private Engine engine;

    @AfterEach
    void closeAll() throws Exception {
        if (engine != null) {
            engine.close();
        }
        for (Replica r : replicas) {
            r.close();
        }
        arena.close();
    }

    private Replica replica(String name) throws IOException {
        Replica r = Replica.create(tmp.resolve(name), SIZE);
        replicas.add(r);
        return r;
    }

    private static FaultyEndpoint endpoint(Replica r) {
        return new FaultyEndpoint(new LocalReplicaEndpoint(r));
    }

    private Engine start(Replica... rs) throws IOException {
        List<FaultyEndpoint> eps = new ArrayList<>();
        for (Replica r : rs) {
            eps.add(endpoint(r));
        }
        engine = Engine.start("vol0", SIZE, List.copyOf(eps), TIMEOUT, Clock.systemUTC());
        return engine;
    }

    private MemorySegment random(int length, long seed) {
        byte[] b = new byte[length];
        new Random(seed).nextBytes(b);
        return arena.allocate(length, 4096).copyFrom(MemorySegment.ofArray(b));
    }

    private byte[] contents(Replica r) throws IOException {
        MemorySegment buf = arena.allocate(SIZE, 4096);
        r.read(0, buf);
        return buf.toArray(ValueLayout.JAVA_BYTE);
    }

    private byte[] contents(Engine e) throws IOException {
        MemorySegment buf = arena.allocate(SIZE, 4096);
        e.read(0, buf);
        return buf.toArray(ValueLayout.JAVA_BYTE);
    }

    /** Scattered full-block writes, sub-block writes, zeroes and trims. */
    private void mixedWrites(Engine e, long seed, int count) throws IOException {
        Random rnd = new Random(seed);
        for (int i = 0; i < count; i++) {
            long block = rnd.nextLong(SIZE / 4096 - 16);
            switch (rnd.nextInt(6)) {
                case 0 -> e.write(block * 4096 + 512L * rnd.nextInt(7), random(512, rnd.nextLong()), false);
                case 1 -> e.writeZeroes(block * 4096 + 1024, 2048, true);
                case 2 -> e.trim(block * 4096, 8192);
                default -> e.write(block * 4096, random(4096 * (1 + rnd.nextInt(16)), rnd.nextLong()), false);
            }
        }
    }

    private RebuildStatus awaitRebuilt() {
        await().atMost(Duration.ofMinutes(2)).until(() -> !engine.rebuilding());
        RebuildStatus s = engine.rebuildStatus();
        assertThat(s.state()).as("rebuild status %s", s).isEqualTo("done");
        return s;
    }

    private Mode modeOf(String address) {
        return engine.info().replicas().stream()
                .filter(r -> r.address().equals(address))
                .findFirst()
                .orElseThrow()
                .mode();
    }

    @Test
    void anEmptyReplicaIsRebuiltWhileWritesGoOnAndEndsIdentical() throws Exception {
        Replica a = replica("a");
        Replica b = replica("b");
        start(a, b);
        mixedWrites(engine, 1, 300);
        engine.snapshot("before", true, Map.of("k", "v"));
        mixedWrites(engine, 2, 300);

        Replica c = replica("c");
        FaultyEndpoint target = endpoint(c);
        CompletableFuture<Void> gate = new CompletableFuture<>();
        target.layerWrites = gate; // hold the copy so that writes and a snapshot land during it
        RebuildStatus started = engine.addReplica(target, 0);
        assertThat(started.state()).isEqualTo("running");
        assertThat(started.target()).isEqualTo(target.address());
        assertThat(modeOf(target.address())).isEqualTo(Mode.WO);
        assertThat(c.rebuilding()).isTrue();
        mixedWrites(engine, 3, 300);
        assertThatThrownBy(() -> engine.purge()).hasMessageContaining("is being rebuilt");
        engine.snapshot("during", true, Map.of());
        mixedWrites(engine, 4, 300);
        gate.complete(null);

        RebuildStatus done = awaitRebuilt();
        assertThat(modeOf(target.address())).isEqualTo(Mode.RW);
        assertThat(done.bytesDone()).isEqualTo(done.bytesTotal());
        assertThat(done.bytesSent()).isPositive();
        assertThat(c.rebuilding()).isFalse();
        byte[] expected = contents(a);
        assertThat(contents(b)).isEqualTo(expected);
        assertThat(contents(c)).isEqualTo(expected);
        ReplicaInfo ia = a.info();
        ReplicaInfo ic = c.info();
        assertThat(ic.chain()).isEqualTo(ia.chain()).contains("before", "during");
        assertThat(ic.revision()).isEqualTo(ia.revision());
        // the same tree; allocation may differ where zeroes landed during the copy (written, not punched)
        assertThat(c.snapshots())
                .usingRecursiveFieldByFieldElementComparatorIgnoringFields("allocatedBytes")
                .isEqualTo(a.snapshots());

        // the rebuilt replica serves reads alone
        engine.removeReplica(engine.info().replicas().get(0).address());
        engine.removeReplica(engine.info().replicas().get(0).address());
        assertThat(contents(engine)).isEqualTo(expected);
    }

    @Test
    void aReturningReplicaReceivesOnlyWhatChanged() throws Exception {
        Replica a = replica("a");
        Replica b = replica("b");
        start(a, b);
        engine.write(0, random((int) SIZE / 2, 5), false);
        engine.snapshot("s1", true, Map.of());
        engine.write(SIZE / 2, random((int) SIZE / 4, 6), false);
        String bAddress = endpoint(b).address();
        engine.removeReplica(bAddress); // b goes away with all of it...
        engine.write(4096 * 10, random(8192, 7), false); // ...and misses 8 KiB, one trim, and 512 bytes
        engine.write(SIZE / 2 + 4096 * 3 + 512, random(512, 8), false);
        engine.writeZeroes(4096 * 100, 4096, true);

        RebuildStatus s = engine.addReplica(endpoint(b), 64L << 20); // held to 64 MiB/s
        assertThat(s.state()).isEqualTo("running");
        assertThat(s.bandwidthLimit()).isEqualTo(64L << 20);
        RebuildStatus done = awaitRebuilt();
        assertThat(done.bytesTotal()).isGreaterThanOrEqualTo(3 * SIZE / 4);
        assertThat(done.bytesSent()).as("bytes sent to a returning replica").isLessThanOrEqualTo(4 * 4096);
        assertThat(contents(b)).isEqualTo(contents(a));
        assertThat(b.info().chain()).isEqualTo(a.info().chain());
    }

    @Test
    void anInterruptedRebuildResumesWithoutResendingWhatIsDone() throws Exception {
        Replica a = replica("a");
        Replica b = replica("b");
        start(a);
        engine.write(0, random((int) SIZE, 13), false);
        FaultyEndpoint stalls = endpoint(b);
        long chunk = Rebuild.CHUNK_BLOCKS * 4096L;
        stalls.layerWritesLeft.set((int) (SIZE / 2 / chunk)); // half the chunks arrive, then the target stalls
        engine.addReplica(stalls, 0);
        await().atMost(TIMEOUT).until(() -> engine.rebuildStatus().bytesSent() >= SIZE / 2);
        engine.removeReplica(stalls.address()); // the operator gives up on it, then adds it again
        await().atMost(Duration.ofMinutes(2)).until(() -> !engine.rebuilding());

        engine.addReplica(endpoint(b), 0);
        RebuildStatus done = awaitRebuilt();
        assertThat(done.bytesTotal()).isEqualTo(SIZE);
        assertThat(done.bytesSent())
                .as("only what the first attempt did not send")
                .isEqualTo(SIZE / 2);
        assertThat(contents(b)).isEqualTo(contents(a));
    }

    @Test
    void aRebuildThatNeverFinishedStartsInErrAndCanBeRedone() throws Exception {
        Replica a = replica("a");
        Replica b = replica("b");
        start(a);
        engine.write(0, random(1 << 20, 9), false);
        FaultyEndpoint target = endpoint(b);
        target.layerWrites = new CompletableFuture<>(); // never copies
        engine.addReplica(target, 0);
        engine.close(); // the engine dies mid-rebuild
        engine = null;
        await().atMost(TIMEOUT).until(b::rebuilding);

        start(a, b);
        assertThat(engine.info().replicas().get(1).mode()).isEqualTo(Mode.ERR);
        assertThat(engine.info().replicas().get(1).reason()).contains("rebuild was interrupted");
        engine.addReplica(endpoint(b), 0);
        awaitRebuilt();
        assertThat(contents(b)).isEqualTo(contents(a));
    }

    @Test
    void aReplicaBackFromAnOutageCatchesUpOnlyWhatItMissed() throws Exception {
        Replica a = replica("a");
        Replica b = replica("b");
        Replica c = replica("c");
        FaultyEndpoint away = endpoint(c);
        engine = Engine.start("vol0", SIZE, List.of(endpoint(a), endpoint(b), away), TIMEOUT, Clock.systemUTC());
        engine.write(0, random((int) SIZE, 11), false);
        engine.flush();
        away.failWith(new IOException("cable pulled"));
        Random rnd = new Random(12);
        long written = 0;
        for (int i = 0; i < 64; i++) { // 4 KiB writes scattered over the volume while c is away
            engine.write(rnd.nextLong(SIZE / 4096) * 4096, random(4096, rnd.nextLong()), false);
            written += 4096;
        }
        engine.flush();
        assertThat(modeOf(away.address())).isEqualTo(Mode.ERR);

        RebuildStatus s = engine.addReplica(endpoint(c), 0);
        assertThat(s.mode()).isEqualTo("catch-up");
        RebuildStatus done = awaitRebuilt();
        assertThat(done.bytesSent()).isPositive().isLessThanOrEqualTo(written);
        assertThat(done.bytesSent() + done.digestBytes()).isLessThanOrEqualTo(2 * written);
        assertThat(contents(c)).isEqualTo(contents(a));
        assertThat(c.info().chain()).isEqualTo(a.info().chain());
    }

    @Test
    void theWriteIntentMapOutlivesTheEngine() throws Exception {
        Replica a = replica("a");
        Replica b = replica("b");
        FaultyEndpoint away = endpoint(b);
        engine = Engine.start("vol0", SIZE, List.of(endpoint(a), away), TIMEOUT, Clock.systemUTC());
        engine.write(0, random((int) SIZE, 21), false);
        away.failWith(new IOException("power lost"));
        engine.write(SIZE / 2, random(8192, 22), false);
        engine.flush(); // the map is on a before this returns
        engine.close();

        engine = Engine.start("vol0", SIZE, List.of(endpoint(a), endpoint(b)), TIMEOUT, Clock.systemUTC());
        assertThat(engine.info().replicas().get(1).mode()).isEqualTo(Mode.ERR);
        engine.write(0, random(4096, 23), false); // missed again, under the new engine
        RebuildStatus s = engine.addReplica(endpoint(b), 0);
        assertThat(s.mode()).isEqualTo("catch-up");
        RebuildStatus done = awaitRebuilt();
        assertThat(done.bytesSent()).isEqualTo(3 * 4096);
        assertThat(contents(b)).isEqualTo(contents(a));
    }

    /** Reconnects to the test's replicas by address, as the wire connector would. */
    private io.bighorn.dataplane.replica.ReplicaConnector connector() {
        return address -> endpoint(replicas.stream()
                .filter(r -> ("local:" + r.directory()).equals(address))
                .findFirst()
                .orElseThrow());
    }

    @Test
    void aVolumeWhoseReplicasAllFailedIsSalvagedFromTheNewest() throws Exception {
        Replica a = replica("a");
        Replica b = replica("b");
        FaultyEndpoint ea = endpoint(a);
        FaultyEndpoint eb = endpoint(b);
        engine = Engine.start("vol0", SIZE, List.of(ea, eb), TIMEOUT, Clock.systemUTC());
        assertThat(engine.info().decision()).contains("started at epoch 1");
        assertThatThrownBy(() -> engine.salvage(connector())).hasMessageContaining("still has replicas");
        engine.write(0, random(4096, 31), false);
        eb.failWith(new IOException("disk pulled"));
        MemorySegment last = random(4096, 32);
        engine.write(0, last, false); // only a has it
        ea.failWith(new IOException("power lost"));
        assertThatThrownBy(() -> engine.write(8192, random(4096, 33), false))
                .isInstanceOf(NoHealthyReplicaException.class);

        String decision = engine.salvage(connector());
        assertThat(decision).contains("salvaged at epoch 1").contains("revision " + a.revision());
        assertThat(modeOf(ea.address())).isEqualTo(Mode.RW);
        assertThat(modeOf(eb.address())).isEqualTo(Mode.ERR);
        assertThat(engine.info().replicas().stream()
                        .filter(r -> r.mode() == Mode.ERR)
                        .findFirst()
                        .orElseThrow()
                        .reason())
                .contains("is behind");
        assertThat(contents(engine)).startsWith(last.toArray(ValueLayout.JAVA_BYTE));
        engine.write(8192, random(4096, 34), false); // serving again
        // and b comes back through a rebuild
        engine.addReplica(endpoint(b), 0);
        awaitRebuilt();
        assertThat(contents(b)).isEqualTo(contents(a));
    }

    @Test
    void aFencedEngineDoesNotSalvage() throws Exception {
        Replica a = replica("a");
        FaultyEndpoint ea = endpoint(a);
        engine = Engine.start("vol0", SIZE, List.of(ea), TIMEOUT, Clock.systemUTC());
        ea.failWith(new IOException("gone"));
        assertThatThrownBy(() -> engine.write(0, random(4096, 41), false))
                .isInstanceOf(NoHealthyReplicaException.class);
        try (Engine newer = Engine.start("vol0", SIZE, List.of(endpoint(a)), TIMEOUT, Clock.systemUTC())) {
            assertThatThrownBy(() -> engine.salvage(connector())).hasMessageContaining("is fenced");
        }
    }

    @Test
    void aReplicaThatMissedALaterEngineLosesToItDespiteMoreRevisions() throws Exception {
        Replica a = replica("a");
        Replica b = replica("b");
        FaultyEndpoint ea = endpoint(a);
        engine = Engine.start("vol0", SIZE, List.of(ea, endpoint(b)), TIMEOUT, Clock.systemUTC());
        ea.failWith(new IOException("a away"));
        for (int i = 0; i < 10; i++) {
            engine.write(4096L * i, random(4096, 50 + i), false); // b counts ten more revisions
        }
        engine.flush();
        engine.close();
        // a later engine starts without b (unreachable) and writes once to a
        engine = Engine.start(
                "vol0",
                SIZE,
                List.of(
                        endpoint(a),
                        new io.bighorn.dataplane.replica.UnreachableReplica(
                                "local:" + b.directory(), new IOException("down"))),
                TIMEOUT,
                Clock.systemUTC());
        MemorySegment newest = random(4096, 60);
        engine.write(0, newest, false);
        engine.flush();
        engine.close();
        assertThat(b.revision()).isGreaterThan(a.revision());

        engine = Engine.start("vol0", SIZE, List.of(endpoint(a), endpoint(b)), TIMEOUT, Clock.systemUTC());
        assertThat(engine.info().replicas().get(0).mode()).isEqualTo(Mode.RW);
        assertThat(engine.info().replicas().get(1).mode()).isEqualTo(Mode.ERR);
        assertThat(engine.info().replicas().get(1).reason()).contains("missed a later engine");
        assertThat(engine.info().decision()).contains("epoch 2");
        assertThat(contents(engine)).startsWith(newest.toArray(ValueLayout.JAVA_BYTE));
    }

    @Test
    void membershipErrorsAreClear() throws Exception {
        Replica a = replica("a");
        Replica b = replica("b");
        start(a, b);
        String aAddress = endpoint(a).address();
        assertThatThrownBy(() -> engine.addReplica(endpoint(a), 0)).hasMessageContaining("is already RW");
        assertThatThrownBy(() -> engine.removeReplica("tcp://nowhere:1")).hasMessageContaining("has no replica");
        assertThatThrownBy(() -> engine.addReplica(endpoint(replica("c")), -1)).hasMessageContaining("bandwidth");
        engine.removeReplica(endpoint(b).address());
        assertThatThrownBy(() -> engine.removeReplica(aAddress)).hasMessageContaining("last RW replica");
        Replica big = Replica.create(tmp.resolve("big"), SIZE * 2);
        replicas.add(big);
        assertThatThrownBy(() -> engine.addReplica(endpoint(big), 0)).hasMessageContaining("more than volume");
        assertThat(engine.rebuildStatus().state()).isEqualTo("none");
    }
}
