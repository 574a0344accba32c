package io.bighorn.control;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.bighorn.control.v1.EngineInfo;
import io.bighorn.control.v1.Snapshot;
import io.bighorn.dataplane.engine.Engine;
import io.bighorn.dataplane.replica.LocalReplicaEndpoint;
import io.bighorn.dataplane.replica.Replica;
import io.bighorn.dataplane.replica.ReplicaEndpoint;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The control API over a real gRPC server (Netty, loopback) in front of an engine on real replicas. */
class ControlApiTest {
    private static final long SIZE = 8L << 20;

    @TempDir
    Path tmp;

    private Engine engine;
    private ControlServer server;
    private ControlClient client;
    private int clients;

    @BeforeEach
    void start() throws Exception {
        List<ReplicaEndpoint> endpoints = new ArrayList<>();
        for (int i = 0; i < 2; i++) {
            endpoints.add(new LocalReplicaEndpoint(Replica.create(tmp.resolve("r" + i), SIZE)));
        }
        engine = Engine.start("vol0", SIZE, endpoints, Duration.ofSeconds(8), Clock.systemUTC());
        engine.frontendClients(() -> clients);
        server = ControlServer.start(
                new InetSocketAddress(java.net.InetAddress.getLoopbackAddress(), 0),
                engine,
                "nbd://127.0.0.1:10809/vol0",
                address ->
                        new LocalReplicaEndpoint(Replica.create(Path.of(address.substring("local:".length())), SIZE)));
        client = new ControlClient("127.0.0.1:" + server.port());
    }

    @AfterEach
    void stop() throws Exception {
        client.close();
        server.close();
        engine.close();
    }

    @Test
    void infoShowsTheVolumeAndItsReplicas() {
        EngineInfo info = client.info();
        assertThat(info.getVolume()).isEqualTo("vol0");
        assertThat(info.getSize()).isEqualTo(SIZE);
        assertThat(info.getEpoch()).isEqualTo(1);
        assertThat(info.getFrontend()).isEqualTo("nbd://127.0.0.1:10809/vol0");
        assertThat(info.getReplicasList())
                .hasSize(2)
                .allSatisfy(r -> assertThat(r.getMode()).isEqualTo("RW"));
    }

    @Test
    void snapshotLifecycle() throws Exception {
        try (Arena arena = Arena.ofShared()) {
            MemorySegment block = arena.allocate(4096, 4096).fill((byte) 7);
            engine.write(0, block, false);
        }
        Snapshot s = client.createSnapshot("s1", Map.of("by", "test"));
        assertThat(s.getName()).isEqualTo("s1");
        assertThat(s.getLabelsMap()).containsEntry("by", "test");
        assertThat(s.getAllocatedBytes()).isEqualTo(4096);
        client.createSnapshot("s2", Map.of());
        assertThat(client.listSnapshots()).extracting(Snapshot::getName).containsExactly("s1", "s2");
        client.deleteSnapshot("s1");
        assertThat(client.purge()).containsExactly("s1");
        clients = 1;
        assertThatThrownBy(() -> client.revert("s2"))
                .isInstanceOf(ControlException.class)
                .hasMessageContaining("frontend client(s) are connected")
                .extracting(e -> ((ControlException) e).code())
                .isEqualTo("FAILED_PRECONDITION");
        clients = 0;
        client.revert("s2");
        assertThat(client.expand(2 * SIZE).getSize()).isEqualTo(2 * SIZE);
    }

    @Test
    void aReplicaIsAddedRebuiltAndRemoved() {
        assertThat(client.rebuildStatus().getState()).isEqualTo("none");
        String address = "local:" + tmp.resolve("r-new");
        io.bighorn.control.v1.RebuildStatus started = client.addReplica(address, 0);
        assertThat(started.getTarget()).isEqualTo(address);
        org.awaitility.Awaitility.await()
                .atMost(java.time.Duration.ofMinutes(1))
                .until(() -> client.rebuildStatus().getState().equals("done"));
        assertThat(client.rebuildStatus().getProgress()).isEqualTo(1.0);
        assertThat(client.info().getReplicasList())
                .anySatisfy(r -> assertThat(r.getAddress() + " " + r.getMode()).isEqualTo(address + " RW"));
        assertThat(client.removeReplica(address).getReplicasCount()).isEqualTo(2);
        assertThatThrownBy(() -> client.removeReplica(address))
                .isInstanceOf(ControlException.class)
                .hasMessageContaining("has no replica");
        assertThatThrownBy(() -> client.addReplica("local:" + tmp.resolve("r-other"), -5))
                .isInstanceOf(ControlException.class)
                .hasMessageContaining("bandwidth");
    }

    @Test
    void badRequestsGetClearErrors() {
        assertThatThrownBy(() -> client.createSnapshot("Bad Name", Map.of()))
                .isInstanceOf(ControlException.class)
                .hasMessageContaining("invalid snapshot name")
                .extracting(e -> ((ControlException) e).code())
                .isEqualTo("INVALID_ARGUMENT");
        assertThatThrownBy(() -> client.deleteSnapshot("nope")).hasMessageContaining("no snapshot named 'nope'");
        assertThatThrownBy(() -> client.expand(SIZE / 2)).hasMessageContaining("cannot shrink");
        assertThatThrownBy(() -> client.expand(SIZE + 1)).hasMessageContaining("multiple of 4096");
        assertThat(client.info().getReplicasList())
                .allSatisfy(r -> assertThat(r.getMode()).isEqualTo("RW"));
    }

    @Test
    void anUnreachableEngineIsAClearError() throws Exception {
        try (ControlClient nowhere = new ControlClient("127.0.0.1:1")) {
            assertThatThrownBy(nowhere::info)
                    .isInstanceOf(ControlException.class)
                    .extracting(e -> ((ControlException) e).code())
                    .isEqualTo("UNAVAILABLE");
        }
    }
}
