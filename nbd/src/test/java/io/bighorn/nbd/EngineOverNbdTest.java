package io.bighorn.nbd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import io.bighorn.dataplane.engine.Engine;
import io.bighorn.dataplane.replica.Replica;
import io.bighorn.dataplane.replica.ReplicaEndpoint;
import io.bighorn.dataplane.wire.ClusterSecret;
import io.bighorn.dataplane.wire.ReplicaServer;
import io.bighorn.dataplane.wire.WireReplicaEndpoint;
import io.bighorn.nbd.RawClient.Reply;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.Random;
import java.util.concurrent.ConcurrentLinkedQueue;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The whole data path in one JVM: NBD clients → the engine's asynchronous, plugged path → three replicas
 * over the wire. Chain operations that drain I/O must never deadlock with requests a plugged reader holds.
 */
class EngineOverNbdTest {
    private static final long SIZE = 16L << 20;
    private static final ClusterSecret SECRET = ClusterSecret.of("engine-over-nbd-test");

    private Path dir;
    private final List<Replica> replicas = new ArrayList<>();
    private final List<ReplicaServer> servers = new ArrayList<>();
    private Engine engine;
    private NbdServer nbd;

    @BeforeEach
    void setUp() throws Exception {
        dir = Files.createTempDirectory("engine-over-nbd");
        List<ReplicaEndpoint> endpoints = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            Replica r = Replica.create(dir.resolve("r" + i), SIZE);
            replicas.add(r);
            ReplicaServer s = ReplicaServer.start(r, new InetSocketAddress("127.0.0.1", 0), SECRET);
            servers.add(s);
            endpoints.add(WireReplicaEndpoint.connect(s.url(), SECRET));
        }
        engine = Engine.start("vol0", SIZE, endpoints, Duration.ofSeconds(8), Clock.systemUTC());
        nbd = NbdServer.start("127.0.0.1", 0, Exports.of(new Export("vol0", "", engine)));
        engine.frontendClients(() -> nbd.clients("vol0"));
    }

    @AfterEach
    void tearDown() throws Exception {
        if (nbd != null) {
            nbd.close();
            assertThat(nbd.unexpectedErrors()).isZero();
        }
        if (engine != null) {
            engine.close();
        }
        for (ReplicaServer s : servers) {
            s.close();
        }
        for (Replica r : replicas) {
            r.close();
        }
        TestVolumes.delete(dir);
    }

    @Test
    void snapshotsTakenUnderPipelinedWritesNeitherDeadlockNorLoseAWrite() {
        assertTimeoutPreemptively(Duration.ofSeconds(120), () -> {
            int clients = 4;
            int rounds = 6;
            int depth = 32;
            Queue<Throwable> failures = new ConcurrentLinkedQueue<>();
            List<Thread> threads = new ArrayList<>();
            for (int c = 0; c < clients; c++) {
                int id = c;
                threads.add(Thread.ofPlatform().start(() -> {
                    try (RawClient client = new RawClient(nbd.port()).greet().go("vol0", id % 2 == 0, false)) {
                        long base = id * (SIZE / clients);
                        for (int round = 0; round < rounds; round++) {
                            for (int k = 0; k < depth; k++) {
                                int flags = k % 8 == 7 ? Protocol.CMD_FLAG_FUA : 0;
                                client.send(flags, Protocol.CMD_WRITE, k, base + k * 4096L, 4096, block(id, round, k));
                            }
                            for (int k = 0; k < depth; k++) {
                                Reply r = client.read(0);
                                assertThat(r.error()).isZero();
                            }
                        }
                        assertThat(client.call(0, Protocol.CMD_FLUSH, 0, 0, null)
                                        .error())
                                .isZero();
                    } catch (Exception | AssertionError e) {
                        failures.add(e);
                    }
                }));
            }
            for (int i = 0; i < 10; i++) {
                engine.snapshot("s" + i, true, Map.of());
            }
            for (Thread t : threads) {
                t.join();
            }
            assertThat(failures).isEmpty();
            assertThat(engine.snapshots()).hasSizeGreaterThanOrEqualTo(10);
            try (Arena arena = Arena.ofConfined()) {
                for (int c = 0; c < clients; c++) {
                    long base = c * (SIZE / clients);
                    for (int k = 0; k < depth; k++) {
                        byte[] expected = block(c, rounds - 1, k);
                        for (Replica r : replicas) {
                            MemorySegment got = arena.allocate(4096);
                            r.read(base + k * 4096L, got);
                            assertThat(got.toArray(ValueLayout.JAVA_BYTE))
                                    .as("client %d block %d on %s", c, k, r.directory())
                                    .isEqualTo(expected);
                        }
                    }
                }
            }
        });
    }

    private static byte[] block(int client, int round, int k) {
        byte[] b = new byte[4096];
        new Random(client * 100_000L + round * 1000L + k).nextBytes(b);
        return b;
    }
}
