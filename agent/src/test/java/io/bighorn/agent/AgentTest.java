package io.bighorn.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import com.sun.net.httpserver.HttpServer;
import io.bighorn.agent.v1.Instance;
import io.bighorn.agent.v1.InstanceKind;
import io.bighorn.agent.v1.InstanceState;
import io.bighorn.dataplane.engine.Mode;
import io.bighorn.dataplane.engine.ReplicaState;
import io.bighorn.dataplane.replica.Replica;
import io.bighorn.dataplane.wire.ClusterSecret;
import io.bighorn.dataplane.wire.ReplicaServer;
import io.bighorn.nbd.NbdClient;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A real agent in this JVM, called over gRPC as the manager calls it, with data written through its NBD server. */
class AgentTest {
    private static final ClusterSecret SECRET = ClusterSecret.of("agent-test-secret");
    private static final long SIZE = 8L << 20;

    @TempDir
    Path disk;

    private AgentConfig config(URI manager) {
        InetSocketAddress any = new InetSocketAddress(InetAddress.getLoopbackAddress(), 0);
        return new AgentConfig(
                "n1",
                "z1",
                List.of("ssd"),
                List.of(disk),
                any,
                any,
                "127.0.0.1",
                SECRET,
                manager,
                Duration.ofMillis(200));
    }

    private static AgentClient client(Agent agent, ClusterSecret secret) {
        return new AgentClient("127.0.0.1:" + agent.grpcAddress().getPort(), secret);
    }

    @Test
    void hostsReplicasAndAnEngineWhoseDataSurvivesARestartOfTheAgent() throws Exception {
        byte[] data = new byte[1 << 20];
        new Random(7).nextBytes(data);
        try (Agent agent = Agent.start(config(null));
                AgentClient c = client(agent, SECRET)) {
            Instance r1 = c.createReplica("v-r-1", "v", SIZE, "default");
            Instance r2 = c.createReplica("v-r-2", "v", SIZE, "default");
            assertThat(c.createReplica("v-r-1", "v", SIZE, "default")).isEqualTo(r1); // idempotent
            Instance e = c.startEngine("v-e", "v", SIZE, List.of(r1.getAddress(), r2.getAddress()), 8);
            assertThat(c.startEngine("v-e", "v", SIZE, List.of(), 8)).isEqualTo(e);
            assertThat(e.getEndpoint())
                    .isEqualTo("nbd://127.0.0.1:" + agent.nbdAddress().getPort() + "/v");
            try (NbdClient nbd = NbdClient.connect(e.getEndpoint())) {
                assertThat(nbd.size()).isEqualTo(SIZE);
                nbd.write(4096, data, 0, data.length);
                nbd.flush();
            }
            assertThat(c.getNode().getInstancesList())
                    .extracting(Instance::getName, Instance::getState)
                    .contains(
                            org.assertj.core.groups.Tuple.tuple("v-r-1", InstanceState.RUNNING),
                            org.assertj.core.groups.Tuple.tuple("v-e", InstanceState.RUNNING));
            assertThat(c.stopEngine("v-e").getState()).isEqualTo(InstanceState.STOPPED);
            assertThat(c.stopEngine("v-e").getState()).isEqualTo(InstanceState.STOPPED);
        }
        try (Agent agent = Agent.start(config(null));
                AgentClient c = client(agent, SECRET)) {
            var node = c.getNode();
            assertThat(node.getName()).isEqualTo("n1");
            assertThat(node.getZone()).isEqualTo("z1");
            assertThat(node.getDisks(0).getStorageMaximum()).isPositive();
            assertThat(node.getInstancesList())
                    .allMatch(i -> i.getKind() == InstanceKind.REPLICA && i.getState() == InstanceState.STOPPED)
                    .extracting(Instance::getName, Instance::getVolume, Instance::getSize)
                    .containsExactlyInAnyOrder(
                            org.assertj.core.groups.Tuple.tuple("v-r-1", "v", SIZE),
                            org.assertj.core.groups.Tuple.tuple("v-r-2", "v", SIZE));
            Instance r1 = c.createReplica("v-r-1", "v", SIZE, "default");
            Instance r2 = c.createReplica("v-r-2", "v", SIZE, "default");
            Instance e = c.startEngine("v-e", "v", SIZE, List.of(r1.getAddress(), r2.getAddress()), 8);
            byte[] back = new byte[data.length];
            try (NbdClient nbd = NbdClient.connect(e.getEndpoint())) {
                nbd.read(4096, back, 0, back.length);
            }
            assertThat(back).isEqualTo(data);
            c.stopEngine("v-e");
            c.deleteReplica("v-r-2");
            c.deleteReplica("v-r-2");
            assertThat(disk.resolve("replicas/v-r-2")).doesNotExist();
            assertThat(c.getNode().getInstancesList())
                    .extracting(Instance::getName)
                    .containsExactly("v-r-1");
        }
    }

    @Test
    void anEngineReachesItsNodesReplicaInProcessAndOthersOverTheNetwork() throws Exception {
        byte[] data = new byte[256 << 10];
        new Random(11).nextBytes(data);
        try (Agent agent = Agent.start(config(null));
                AgentClient c = client(agent, SECRET);
                Replica remote = Replica.create(disk.resolve("elsewhere"), SIZE);
                ReplicaServer remoteServer = ReplicaServer.start(
                        remote, new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), SECRET)) {
            Instance local = c.createReplica("v-r-1", "v", SIZE, "default");
            Instance e = c.startEngine("v-e", "v", SIZE, List.of(local.getAddress(), remoteServer.url()), 8);
            try (NbdClient nbd = NbdClient.connect(e.getEndpoint())) {
                nbd.write(0, data, 0, data.length);
                nbd.flush();
                byte[] back = new byte[data.length];
                nbd.read(0, back, 0, back.length);
                assertThat(back).isEqualTo(data);
                // known by its network address, reached without a connection; the other one over TCP
                assertThat(agent.engines.get("v-e").engine.info().replicas())
                        .extracting(ReplicaState::address, ReplicaState::mode)
                        .containsExactly(
                                org.assertj.core.groups.Tuple.tuple(local.getAddress(), Mode.RW),
                                org.assertj.core.groups.Tuple.tuple(remoteServer.url(), Mode.RW));
                assertThat(agent.replicas.get("v-r-1").connections()).isZero();
                assertThat(remoteServer.connections()).isPositive();
                byte[] copy = new byte[data.length];
                remote.read(0, java.nio.ByteBuffer.wrap(copy));
                assertThat(copy).isEqualTo(data);

                // the node's replica going away turns it ERR; the volume keeps serving from the other
                c.deleteReplica("v-r-1");
                nbd.write(0, new byte[4096], 0, 4096);
                nbd.flush();
                assertThat(agent.engines.get("v-e").engine.info().replicas())
                        .extracting(ReplicaState::mode)
                        .containsExactly(Mode.ERR, Mode.RW);
            }
            c.stopEngine("v-e");
        }
    }

    @Test
    void badRequestsAreRefusedAndCreateNothing() throws Exception {
        try (Agent agent = Agent.start(config(null));
                AgentClient c = client(agent, SECRET)) {
            assertThatThrownBy(() -> c.createReplica("../x", "v", SIZE, "default"))
                    .isInstanceOf(AgentException.class)
                    .hasMessageContaining("invalid replica name")
                    .extracting(ex -> ((AgentException) ex).code())
                    .isEqualTo("INVALID_ARGUMENT");
            assertThatThrownBy(() -> c.createReplica("r", "v", SIZE, "nvme"))
                    .hasMessageContaining("has no disk 'nvme'");
            assertThatThrownBy(() -> c.createReplica("r", "v", 0, "default")).hasMessageContaining("positive multiple");
            assertThatThrownBy(() -> c.createReplica("r", "v", 4097, "default"))
                    .hasMessageContaining("positive multiple");
            assertThatThrownBy(() -> c.startEngine("e", "v", SIZE, List.of(), 8))
                    .hasMessageContaining("at least one replica");
            try (var files = Files.list(disk.resolve("replicas"))) {
                assertThat(files).isEmpty();
            }
            assertThat(c.getNode().getInstancesList()).isEmpty();
        }
    }

    @Test
    void callsWithoutTheClusterTokenAreRefused() throws Exception {
        try (Agent agent = Agent.start(config(null));
                AgentClient stranger = client(agent, ClusterSecret.of("another-cluster"))) {
            assertThatThrownBy(stranger::getNode)
                    .isInstanceOf(AgentException.class)
                    .extracting(ex -> ((AgentException) ex).code())
                    .isEqualTo("UNAUTHENTICATED");
        }
    }

    @Test
    void heartbeatsCarryTheTokenAndTheAddresses() throws Exception {
        List<String> beats = new CopyOnWriteArrayList<>();
        HttpServer manager = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        manager.createContext("/v1/internal/heartbeat", x -> {
            String auth = x.getRequestHeaders().getFirst("Authorization");
            beats.add((AgentAuth.matches(SECRET, auth) ? "ok " : "bad ")
                    + new String(x.getRequestBody().readAllBytes(), StandardCharsets.UTF_8));
            x.sendResponseHeaders(204, -1);
            x.close();
        });
        manager.start();
        try (Agent agent = Agent.start(
                config(URI.create("http://127.0.0.1:" + manager.getAddress().getPort())))) {
            await().atMost(Duration.ofSeconds(30)).until(() -> beats.size() >= 2);
            assertThat(beats.getFirst())
                    .startsWith("ok ")
                    .contains("\"node\":\"n1\"")
                    .contains("\"address\":\"127.0.0.1:" + agent.grpcAddress().getPort() + "\"")
                    .contains("\"nbdAddress\":\"127.0.0.1:" + agent.nbdAddress().getPort() + "\"")
                    .contains("\"zone\":\"z1\"")
                    .contains("\"tags\":[\"ssd\"]");
        } finally {
            manager.stop(0);
        }
    }

    @Test
    void configIsValidated() {
        InetSocketAddress any = new InetSocketAddress(0);
        assertThatThrownBy(() -> new AgentConfig(
                        "N 1", "", List.of(), List.of(disk), any, any, "h", SECRET, null, Duration.ofSeconds(1)))
                .hasMessageContaining("invalid node name");
        assertThatThrownBy(() -> new AgentConfig(
                        "n1", "", List.of(), List.of(), any, any, "h", SECRET, null, Duration.ofSeconds(1)))
                .hasMessageContaining("at least one disk");
        assertThatThrownBy(() -> new AgentConfig(
                        "n1", "", List.of(), List.of(disk, disk), any, any, "h", SECRET, null, Duration.ofSeconds(1)))
                .hasMessageContaining("twice");
    }

    @Test
    void aRestoreShowsItsProgressWithoutHoldingUpGetNodeAndBackupsAreDeleted() throws Exception {
        Path target = disk.resolveSibling(disk.getFileName() + "-target");
        String url = target.toUri().toString();
        byte[] data = new byte[4 << 20];
        new Random(11).nextBytes(data);
        try (Agent agent = Agent.start(config(null));
                AgentClient c = client(agent, SECRET)) {
            Instance r1 = c.createReplica("va-r-1", "va", SIZE, "default");
            Instance e = c.startEngine("va-e", "va", SIZE, List.of(r1.getAddress()), 8);
            try (NbdClient nbd = NbdClient.connect(e.getEndpoint())) {
                nbd.write(0, data, 0, data.length);
                nbd.flush();
            }
            try (var control =
                    new io.bighorn.control.ControlClient(e.getAddress(), AgentAuth.callCredentials(SECRET))) {
                control.createSnapshot("s1", java.util.Map.of());
            }
            c.startBackup("b1", "va", "s1", url, "lz4", java.util.Map.of());
            var job = await().atMost(Duration.ofMinutes(1))
                    .until(
                            () -> c.getBackup("b1").orElseThrow(),
                            j -> !j.getState().equals("running"));
            assertThat(job.getState()).as("%s", job).isEqualTo("completed");

            // a block the restore will wait on: a FIFO, which blocks its reader until someone writes
            Path block;
            try (var files = Files.walk(target)) {
                block = files.filter(p -> p.toString().endsWith(".blk"))
                        .findFirst()
                        .orElseThrow();
            }
            Files.delete(block);
            Process mkfifo = new ProcessBuilder("mkfifo", block.toString()).start();
            assertThat(mkfifo.waitFor()).isZero();
            java.util.concurrent.Executor threads =
                    r -> Thread.ofPlatform().daemon().start(r);
            var restore = java.util.concurrent.CompletableFuture.supplyAsync(
                    () -> c.createReplica("wa-r-1", "wa", SIZE, "default", job.getUrl()), threads);
            Instance restoring = await().atMost(Duration.ofSeconds(30))
                    .until(
                            () -> c.getNode().getInstancesList().stream()
                                    .filter(i -> i.getName().equals("wa-r-1"))
                                    .findFirst()
                                    .orElse(Instance.getDefaultInstance()),
                            Instance::getRestoring);
            assertThat(restoring.getState()).isEqualTo(InstanceState.STOPPED);
            assertThat(restore).isNotDone();
            // writing opens the FIFO (waiting for its reader: bounded, so a restore that never reads it
            // fails the test instead of hanging it); the restore then reads a corrupt block
            java.util.concurrent.CompletableFuture.runAsync(
                            () -> {
                                try {
                                    Files.write(block, new byte[] {1, 2, 3});
                                } catch (java.io.IOException x) {
                                    throw new java.io.UncheckedIOException(x);
                                }
                            },
                            threads)
                    .get(30, java.util.concurrent.TimeUnit.SECONDS);
            assertThatThrownBy(restore::join)
                    .hasMessageContaining(block.getFileName().toString().replace(".blk", ""));
            assertThat(c.getNode().getInstancesList())
                    .filteredOn(i -> i.getName().equals("wa-r-1"))
                    .allMatch(i -> !i.getRestoring() && i.getState() != InstanceState.RUNNING);

            assertThat(c.deleteBackup(url, "va", "b1").getDeleted()).isTrue();
            assertThat(c.deleteBackup(url, "va", "b1").getDeleted()).isFalse(); // already gone
            assertThat(c.listBackups(url, "va").getBackupsList()).isEmpty();
            assertThat(c.deleteBackup(url, "va", "").getDeleted()).isTrue();
            assertThat(c.listBackups(url, "").getVolumesList()).isEmpty();
        }
    }
}
